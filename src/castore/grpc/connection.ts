// A client connection to one tvix gRPC endpoint, with typed unary / server-stream / client-stream calls.
import { once } from 'node:events';
import { Client, credentials, type ChannelCredentials, type ChannelOptions, type ClientWritableStream } from '@grpc/grpc-js';
import { NarBridgeError } from '../../errors.js';
import type { CallOptions } from '../call-options.js';
import { MAX_DIRECTORY_BYTES } from '../wire.js';
import { toBuffer, type MethodSpec } from './method.js';
import { errorFromStatus } from './status.js';

/** Largest message either side accepts: a maximal Directory plus framing (grpc-js defaults to 4 MiB). */
export const MAX_GRPC_MESSAGE_BYTES = MAX_DIRECTORY_BYTES + 64 * 1024;

/**
 * A peer that restarts is back within a couple of seconds: grpc-js would otherwise back off up to 120 s
 * and keep failing calls fast (UNAVAILABLE) long after the peer is up again.
 */
const CHANNEL_OPTIONS: ChannelOptions = {
  'grpc.max_receive_message_length': MAX_GRPC_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_GRPC_MESSAGE_BYTES,
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 2_000,
};

/** Unary calls are lookups; a peer that accepts the connection but never answers must not hang a request. */
const UNARY_DEADLINE_MS = 30_000;

interface GrpcEndpoint {
  /** A grpc-js target: `host:port` or `unix:///abs/path`. */
  readonly target: string;
  readonly credentials: ChannelCredentials;
}

/** `grpc+http://host:port`, `grpc+https://host:port` or `grpc+unix:///abs/socket`; anything else is NB_ERR_CONFIG. */
export function grpcEndpointFromUrl(url: URL): GrpcEndpoint {
  const bad = (why: string) => new NarBridgeError('NB_ERR_CONFIG', `${url.href}: ${why}`);
  if (url.search || url.hash || url.username || url.password) throw bad('gRPC URLs take no query, fragment or credentials');
  switch (url.protocol) {
    case 'grpc+http:':
    case 'grpc+https:': {
      if (!url.hostname || !url.port) throw bad('expected host:port');
      if (url.pathname !== '' && url.pathname !== '/') throw bad('a gRPC address has no path');
      const tls = url.protocol === 'grpc+https:';
      return { target: url.host, credentials: tls ? credentials.createSsl() : credentials.createInsecure() };
    }
    case 'grpc+unix:': {
      if (url.host) throw bad('expected grpc+unix:///absolute/path (no host)');
      const path = decodeURIComponent(url.pathname);
      if (path.length < 2 || !path.startsWith('/')) throw bad('expected an absolute socket path');
      return { target: `unix://${path}`, credentials: credentials.createInsecure() };
    }
    default:
      throw bad('gRPC transport must be grpc+http, grpc+https or grpc+unix');
  }
}

export interface ClientStreamCall<Req, Res> {
  /** Settles once the message is queued within flow control; rejects if the call has failed. */
  write(message: Req): Promise<void>;
  /** Half-closes and waits for the peer's answer. */
  finish(): Promise<Res>;
  cancel(): void;
}

export class GrpcConnection {
  readonly #client: Client;

  constructor(endpoint: GrpcEndpoint) {
    this.#client = new Client(endpoint.target, endpoint.credentials, CHANNEL_OPTIONS);
  }

  unary<Req, Res>(spec: MethodSpec<Req, Res>, request: Req, opts: CallOptions = {}): Promise<Res> {
    const { signal } = opts;
    signal?.throwIfAborted();
    return new Promise<Res>((resolve, reject) => {
      const call = this.#client.makeUnaryRequest(
        spec.path,
        (value: Req) => toBuffer(spec.request.encode(value)),
        (bytes: Buffer) => spec.response.decode(bytes),
        request,
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
    const call = this.#client.makeServerStreamRequest(
      spec.path,
      (value: Req) => toBuffer(spec.request.encode(value)),
      (bytes: Buffer) => spec.response.decode(bytes),
      request,
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
    const response = new Promise<Res>((resolve, reject) => {
      call = this.#client.makeClientStreamRequest(
        spec.path,
        (value: Req) => toBuffer(spec.request.encode(value)),
        (bytes: Buffer) => spec.response.decode(bytes),
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

  close(): void {
    this.#client.close();
  }
}
