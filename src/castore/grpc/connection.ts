// A client connection to one tvix gRPC endpoint, with typed unary / server-stream / client-stream calls.
import { once } from 'node:events';
import { Client, connectivityState, Metadata, status as Status, type ChannelOptions, type ClientWritableStream } from '@grpc/grpc-js';
import { NarBridgeError } from '../../errors.js';
import type { CallOptions } from '../call-options.js';
import { MAX_DIRECTORY_BYTES } from '../wire.js';
import type { GrpcEndpoint } from './endpoint.js';
import { CallStatus, LeanCalls } from './lean.js';
import { toBuffer, type MethodSpec } from './method.js';
import { errorFromStatus } from './status.js';

/** Largest message either side accepts: a maximal Directory plus framing (grpc-js defaults to 4 MiB). */
export const MAX_GRPC_MESSAGE_BYTES = MAX_DIRECTORY_BYTES + 64 * 1024;

/**
 * HTTP/2 receive window, per stream and per connection. Node's default of 64 KiB lets a peer send only 64 KiB per
 * round trip: 3 MB/s at 20 ms RTT however many calls are in flight, and on loopback a WINDOW_UPDATE exchange every
 * 64 KiB. 8 MiB covers 400 MB/s at 20 ms; it is also what one connection may hold unread, so memory stays bounded.
 */
const FLOW_CONTROL_WINDOW_BYTES = 8 * 1024 * 1024;

/**
 * The same window for the lean client, which carries the Reads. Measured, one 128 MiB Read through a 20 ms delay
 * (bench/grpc-reads.ts --rtt-ms 20): 8 MiB ~110 MB/s, 16 MiB ~175, 32 MiB ~250 (the window refills only once half of
 * it is consumed, and A spends ~3x the CPU sending into a window that keeps closing). What a stalled consumer can leave
 * unread is one window per session: CONNECTIONS_PER_ENDPOINT × 16 MiB = 64 MiB per endpoint at most.
 */
const READ_FLOW_CONTROL_WINDOW_BYTES = 16 * 1024 * 1024;

/**
 * HTTP/2 connections per endpoint, calls spread round robin. One connection is one TCP stream and one session
 * whose frames both ends handle in order; a few let a large read and many small ones proceed side by side.
 */
const CONNECTIONS_PER_ENDPOINT = 4;

/**
 * A peer that restarts is back within a couple of seconds: grpc-js would otherwise back off up to 120 s
 * and keep failing calls fast (UNAVAILABLE) long after the peer is up again. A local subchannel pool gives each
 * Client its own connection (grpc-js otherwise shares one between Clients with equal options). Channelz is per-call
 * bookkeeping nobody reads here. (Retries stay on: without them a call on a connection still reconnecting after the
 * peer's restart fails instead of waiting its turn.)
 */
const CHANNEL_OPTIONS: ChannelOptions = {
  'grpc.max_receive_message_length': MAX_GRPC_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_GRPC_MESSAGE_BYTES,
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 2_000,
  'grpc-node.flow_control_window': FLOW_CONTROL_WINDOW_BYTES,
  'grpc.use_local_subchannel_pool': 1,
  'grpc.enable_channelz': 0,
};

/** Unary calls are lookups; a peer that accepts the connection but never answers must not hang a request. */
const UNARY_DEADLINE_MS = 30_000;

export interface ClientStreamCall<Req, Res> {
  /** Settles once the message is queued within flow control; rejects if the call has failed. */
  write(message: Req): Promise<void>;
  /** Half-closes and waits for the peer's answer. */
  finish(): Promise<Res>;
  cancel(): void;
}

export class GrpcConnection {
  readonly #clients: readonly Client[];
  readonly #metadata: Metadata;
  /** The methods whose spec says `lean` go this way instead (see lean.ts for why). */
  readonly #lean: LeanCalls;
  #next = 0;

  constructor(endpoint: GrpcEndpoint, connections = CONNECTIONS_PER_ENDPOINT) {
    this.#clients = Array.from({ length: connections }, () => new Client(endpoint.target, endpoint.credentials, CHANNEL_OPTIONS));
    this.#lean = new LeanCalls(endpoint.http2, endpoint.token, {
      sessions: connections,
      windowBytes: READ_FLOW_CONTROL_WINDOW_BYTES,
      maxMessageBytes: MAX_GRPC_MESSAGE_BYTES,
    });
    this.#metadata = new Metadata();
    if (endpoint.token !== null) this.#metadata.set('authorization', `Bearer ${endpoint.token}`);
  }

  /**
   * The next ready connection in turn (or just the next, when none is ready yet), and a copy of the metadata every
   * call carries (grpc-js may modify what it is given). Preferring ready ones matters after the peer restarts: the
   * connections reconnect one by one, and a call on one still backing off would fail at once.
   */
  #pick(): { client: Client; metadata: Metadata } {
    const clients = this.#clients;
    let client: Client | undefined;
    for (let i = 0; i < clients.length && !client; i++) {
      const candidate = clients[(this.#next + i) % clients.length];
      // `true` also starts an idle connection, so the whole pool comes up.
      if (candidate?.getChannel().getConnectivityState(true) === connectivityState.READY) {
        client = candidate;
        this.#next += i;
      }
    }
    client ??= clients[this.#next % clients.length];
    this.#next++;
    if (!client) throw new Error('GrpcConnection has no clients');
    return { client, metadata: this.#metadata.clone() };
  }

  unary<Req, Res>(spec: MethodSpec<Req, Res>, request: Req, opts: CallOptions = {}): Promise<Res> {
    const { signal } = opts;
    signal?.throwIfAborted();
    if (spec.lean) return this.#leanUnary(spec, request, signal);
    return new Promise<Res>((resolve, reject) => {
      const { client, metadata } = this.#pick();
      const call = client.makeUnaryRequest(
        spec.path,
        (value: Req) => toBuffer(spec.request.encode(value)),
        (bytes: Buffer) => spec.response.decode(bytes),
        request,
        metadata,
        { deadline: Date.now() + UNARY_DEADLINE_MS },
        (err, response) => {
          signal?.removeEventListener('abort', cancel);
          if (err) reject(errorFromStatus(err, spec.path, signal));
          else if (response === undefined) reject(new NarBridgeError('NB_ERR_UPSTREAM', `${spec.path}: empty answer`));
          else resolve(response);
        },
      );
      const cancel = () => call.cancel();
      signal?.addEventListener('abort', cancel, { once: true });
    });
  }

  /**
   * Starts the call at once (so several can be in flight before anyone iterates) and yields its messages.
   * Leaving the iteration early cancels the call.
   */
  serverStream<Req, Res>(spec: MethodSpec<Req, Res>, request: Req, opts: CallOptions = {}): AsyncIterable<Res> {
    const { signal } = opts;
    signal?.throwIfAborted();
    if (spec.lean) return this.#leanServerStream(spec, request, signal);
    const { client, metadata } = this.#pick();
    const call = client.makeServerStreamRequest(
      spec.path,
      (value: Req) => toBuffer(spec.request.encode(value)),
      (bytes: Buffer) => spec.response.decode(bytes),
      request,
      metadata,
    );
    const cancel = () => call.cancel();
    signal?.addEventListener('abort', cancel, { once: true });
    call.on('error', () => undefined); // surfaced through the iteration below, even if nobody iterates yet
    return (async function* () {
      try {
        for await (const message of call) yield message as Res;
      } catch (err) {
        throw errorFromStatus(err, spec.path, signal);
      } finally {
        signal?.removeEventListener('abort', cancel);
        call.cancel(); // a no-op once the status arrived; stops the peer if we left early
      }
    })();
  }

  clientStream<Req, Res>(spec: MethodSpec<Req, Res>, opts: CallOptions = {}): ClientStreamCall<Req, Res> {
    const { signal } = opts;
    signal?.throwIfAborted();
    let call: ClientWritableStream<Req> | undefined;
    const { client, metadata } = this.#pick();
    const response = new Promise<Res>((resolve, reject) => {
      call = client.makeClientStreamRequest(
        spec.path,
        (value: Req) => toBuffer(spec.request.encode(value)),
        (bytes: Buffer) => spec.response.decode(bytes),
        metadata,
        (err, answer) => {
          signal?.removeEventListener('abort', cancel);
          if (err) reject(errorFromStatus(err, spec.path, signal));
          else if (answer === undefined) reject(new NarBridgeError('NB_ERR_UPSTREAM', `${spec.path}: empty answer`));
          else resolve(answer);
        },
      );
    });
    let failed: unknown;
    response.catch((err: unknown) => {
      failed = err; // also keeps a failure nobody awaits yet from being reported as unhandled
    });
    const stream = call;
    if (!stream) throw new Error('grpc-js did not start the call synchronously');
    const cancel = () => stream.cancel();
    signal?.addEventListener('abort', cancel, { once: true });
    return {
      async write(message) {
        if (failed !== undefined) throw failed;
        if (!stream.write(message)) {
          await Promise.race([once(stream, 'drain'), response]);
        }
        if (failed !== undefined) throw failed;
      },
      finish() {
        stream.end();
        return response;
      },
      cancel,
    };
  }

  async #leanUnary<Req, Res>(spec: MethodSpec<Req, Res>, request: Req, signal: AbortSignal | undefined): Promise<Res> {
    let answer: Res | undefined;
    try {
      for await (const bytes of this.#lean.call(spec.path, spec.request.encode(request), signal, UNARY_DEADLINE_MS)) {
        if (answer !== undefined) throw new CallStatus(Status.UNIMPLEMENTED, 'Received a second response message on a unary call');
        answer = spec.response.decode(bytes);
      }
    } catch (err) {
      throw errorFromStatus(err, spec.path, signal);
    }
    if (answer === undefined) throw new NarBridgeError('NB_ERR_UPSTREAM', `${spec.path}: empty answer`);
    return answer;
  }

  #leanServerStream<Req, Res>(spec: MethodSpec<Req, Res>, request: Req, signal: AbortSignal | undefined): AsyncIterable<Res> {
    const call = this.#lean.call(spec.path, spec.request.encode(request), signal, null);
    return (async function* () {
      try {
        for await (const bytes of call) yield spec.response.decode(bytes);
      } catch (err) {
        throw errorFromStatus(err, spec.path, signal);
      } finally {
        call.cancel(); // a no-op once the status arrived; stops the peer if we left early
      }
    })();
  }

  close(): void {
    for (const client of this.#clients) client.close();
    this.#lean.close();
  }
}
