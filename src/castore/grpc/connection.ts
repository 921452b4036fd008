// A client connection to one tvix gRPC endpoint, with typed unary / server-stream / client-stream calls, spoken
// directly over node:http2. grpc-js cost ~300 µs of CPU per call on the client (a stack of call, retry, resolver and
// load-balancer objects, metadata, channelz): for a NAR of 20,000 small files, one Read each, that was the limit.
// The wire is the same gRPC: POST, `application/grpc`, length-prefixed messages, `grpc-status` trailers.
import { once } from 'node:events';
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { status as Status } from '@grpc/grpc-js';
import { NarBridgeError } from '../../errors.js';
import type { CallOptions } from '../blob/service.js';
import { MAX_DIRECTORY_BYTES } from '../wire.js';
import type { GrpcEndpoint } from './endpoint.js';
import { FramingError, frameMessage, MessageDecoder } from './framing.js';
import type { MethodSpec } from './method.js';
import { errorFromStatus } from './status.js';

/** Largest message either side accepts: a maximal Directory plus framing (grpc's usual default is 4 MiB). */
export const MAX_GRPC_MESSAGE_BYTES = MAX_DIRECTORY_BYTES + 64 * 1024;

/**
 * HTTP/2 receive window, per stream and per connection. The default of 64 KiB lets a peer send only 64 KiB per
 * round trip: 3 MB/s at 20 ms RTT however many calls are in flight, and on loopback a WINDOW_UPDATE exchange every
 * 64 KiB. 8 MiB covers 400 MB/s at 20 ms; it is also what one connection may hold unread, so memory stays bounded.
 */
const FLOW_CONTROL_WINDOW_BYTES = 8 * 1024 * 1024;

/**
 * HTTP/2 connections per endpoint, calls spread round robin. One connection is one TCP stream whose frames both ends
 * handle in order; a few let a large read and many small ones proceed side by side.
 */
const CONNECTIONS_PER_ENDPOINT = 4;

/** Unary calls are lookups; a peer that accepts the connection but never answers must not hang a request. */
const UNARY_DEADLINE_MS = 30_000;

/**
 * Node caps what a session may buffer at 10 MB by default and then fails streams with ENHANCE_YOUR_CALM; flow
 * control windows bound memory instead (grpc-js lifts the cap the same way). In megabytes.
 */
const MAX_SESSION_MEMORY_MB = 1024;

export interface ClientStreamCall<Req, Res> {
  /** Settles once the message is queued within flow control; rejects if the call has failed. */
  write(message: Req): Promise<void>;
  /** Half-closes and waits for the peer's answer. */
  finish(): Promise<Res>;
  cancel(): void;
}

/** How a call ended, as grpc-js reports it: what errorFromStatus reads. */
class CallStatus extends Error {
  constructor(
    readonly code: Status,
    readonly details: string,
  ) {
    super(`${Status[code] ?? code}: ${details}`);
  }
}

/** The response headers and trailers of a call, as they arrive. */
interface CallEnding {
  headers: IncomingHttpHeaders | undefined;
  trailers: IncomingHttpHeaders | undefined;
  /** Set when we ended the call ourselves. */
  cancelled: 'cancelled' | 'deadline' | null;
}

/** One call on the wire: its stream, its messages as they arrive, and its final status. */
interface OpenCall {
  readonly stream: ClientHttp2Stream;
  /** Every message of the response; the end of the stream resolves to the status (thrown if not OK). */
  messages(): AsyncGenerator<Buffer, void, undefined>;
  cancel(): void;
}

export class GrpcConnection {
  readonly #sessions: Array<ClientHttp2Session | null>;
  readonly #active = new Map<ClientHttp2Session, number>();
  #next = 0;
  #closed = false;

  constructor(
    private readonly endpoint: GrpcEndpoint,
    connections = CONNECTIONS_PER_ENDPOINT,
  ) {
    this.#sessions = Array.from({ length: connections }, () => null);
  }

  unary<Req, Res>(spec: MethodSpec<Req, Res>, request: Req, opts: CallOptions = {}): Promise<Res> {
    opts.signal?.throwIfAborted();
    const call = this.#start(spec.path, opts, UNARY_DEADLINE_MS);
    call.stream.end(frameMessage(spec.request.encode(request)));
    return singleAnswer(spec, call, opts.signal);
  }

  /**
   * Starts the call at once (so several can be in flight before anyone iterates) and yields its messages.
   * Leaving the iteration early cancels the call.
   */
  serverStream<Req, Res>(spec: MethodSpec<Req, Res>, request: Req, opts: CallOptions = {}): AsyncIterable<Res> {
    const { signal } = opts;
    signal?.throwIfAborted();
    const call = this.#start(spec.path, opts, null);
    call.stream.end(frameMessage(spec.request.encode(request)));
    return (async function* () {
      try {
        for await (const bytes of call.messages()) yield spec.response.decode(bytes);
      } catch (err) {
        throw errorFromStatus(err, spec.path, signal);
      } finally {
        call.cancel(); // a no-op once the status arrived; stops the peer if we left early
      }
    })();
  }

  clientStream<Req, Res>(spec: MethodSpec<Req, Res>, opts: CallOptions = {}): ClientStreamCall<Req, Res> {
    const { signal } = opts;
    signal?.throwIfAborted();
    const call = this.#start(spec.path, opts, null);
    const response = singleAnswer(spec, call, signal);
    let failed: unknown;
    response.catch((err: unknown) => {
      failed = err; // also keeps a failure nobody awaits yet from being reported as unhandled
    });
    const { stream } = call;
    return {
      async write(message) {
        if (failed !== undefined) throw failed;
        if (!stream.write(frameMessage(spec.request.encode(message)))) {
          await Promise.race([once(stream, 'drain'), response]);
        }
        if (failed !== undefined) throw failed;
      },
      finish() {
        stream.end();
        return response;
      },
      cancel: () => call.cancel(),
    };
  }

  close(): void {
    this.#closed = true;
    for (const session of this.#sessions) session?.close();
    this.#sessions.fill(null);
  }

  #start(path: string, { signal }: CallOptions, deadlineMs: number | null): OpenCall {
    if (this.#closed) throw new NarBridgeError('NB_ERR_UPSTREAM', `${path}: connection closed`);
    const session = this.#session();
    const headers: OutgoingHttpHeaders = {
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      'grpc-accept-encoding': 'identity',
      'user-agent': 'nar-bridge',
    };
    if (this.endpoint.token !== null) headers.authorization = `Bearer ${this.endpoint.token}`;
    if (deadlineMs !== null) headers['grpc-timeout'] = `${deadlineMs}m`;
    // Cancelling through the request's own signal destroys the stream with RST_STREAM(CANCEL) and nothing else;
    // stream.close() would half-close first, and a peer could take that for a complete upload.
    const abort = new AbortController();
    const stream = session.request(headers, { signal: abort.signal });
    this.#track(session, stream);
    const ending: CallEnding = { headers: undefined, trailers: undefined, cancelled: null };
    const stop = (why: 'cancelled' | 'deadline') => {
      if (stream.closed || ending.cancelled !== null) return;
      ending.cancelled = why;
      abort.abort();
    };
    const cancel = () => stop('cancelled');
    signal?.addEventListener('abort', cancel, { once: true });
    const timer = deadlineMs === null ? null : setTimeout(() => stop('deadline'), deadlineMs);
    stream.once('close', () => {
      signal?.removeEventListener('abort', cancel);
      if (timer) clearTimeout(timer);
    });
    // Listening from the start: the answer may be complete before anyone iterates.
    stream.once('response', (h) => (ending.headers = h));
    stream.once('trailers', (t) => (ending.trailers = t));
    stream.on('error', () => undefined); // surfaced through messages()
    return { stream, messages: () => readMessages(stream, ending), cancel };
  }

  /** The next session in turn, connecting (again) when it has none or its connection went away. */
  #session(): ClientHttp2Session {
    const slot = this.#next++ % this.#sessions.length;
    const existing = this.#sessions[slot];
    if (existing && !existing.closed && !existing.destroyed) return existing;
    const { origin, socketPath, ca } = this.endpoint;
    const session = http2.connect(origin, {
      settings: { initialWindowSize: FLOW_CONTROL_WINDOW_BYTES },
      maxSessionMemory: MAX_SESSION_MEMORY_MB,
      ...(socketPath === null ? {} : { createConnection: () => netConnect(socketPath) }),
      ...(ca === null ? {} : { ca }),
    });
    session.on('error', () => undefined); // each call on it fails with the cause
    session.once('connect', () => session.setLocalWindowSize(FLOW_CONTROL_WINDOW_BYTES));
    const forget = () => {
      if (this.#sessions[slot] === session) this.#sessions[slot] = null;
    };
    session.once('close', forget);
    session.once('goaway', forget);
    session.unref();
    this.#sessions[slot] = session;
    return session;
  }

  /** A session keeps the process alive only while it has calls in flight, as grpc-js's do. */
  #track(session: ClientHttp2Session, stream: ClientHttp2Stream): void {
    const active = (this.#active.get(session) ?? 0) + 1;
    this.#active.set(session, active);
    if (active === 1) session.ref();
    stream.once('close', () => {
      const left = (this.#active.get(session) ?? 1) - 1;
      if (left > 0) {
        this.#active.set(session, left);
        return;
      }
      this.#active.delete(session);
      if (!session.destroyed) session.unref();
    });
  }
}

/** The one message a unary or client-streaming call answers with. */
async function singleAnswer<Req, Res>(spec: MethodSpec<Req, Res>, call: OpenCall, signal: AbortSignal | undefined): Promise<Res> {
  let answer: Res | undefined;
  try {
    for await (const bytes of call.messages()) {
      if (answer !== undefined) throw new CallStatus(Status.INTERNAL, 'peer answered a unary call with several messages');
      answer = spec.response.decode(bytes);
    }
  } catch (err) {
    call.cancel();
    throw errorFromStatus(err, spec.path, signal);
  }
  if (answer === undefined) throw new NarBridgeError('NB_ERR_UPSTREAM', `${spec.path}: empty answer`);
  return answer;
}

/**
 * The messages of a response in order, then its status: OK ends the iteration, anything else is thrown as a
 * CallStatus. Iteration pulls, so an unread response stops being read and flow control holds the peer back.
 */
async function* readMessages(stream: ClientHttp2Stream, ending: CallEnding): AsyncGenerator<Buffer, void, undefined> {
  const decoder = new MessageDecoder(MAX_GRPC_MESSAGE_BYTES);
  try {
    for await (const chunk of stream) {
      for (const message of decoder.push(chunk as Buffer)) yield message;
    }
  } catch (err) {
    throw linkFailure(stream, ending, err);
  }
  // A response without a body carries its status in the headers (gRPC "Trailers-Only").
  const status = statusOf(ending.trailers ?? ending.headers);
  if (status === null) throw linkFailure(stream, ending, undefined);
  if (status.code !== Status.OK) throw status;
  if (decoder.leftover > 0) throw new CallStatus(Status.INTERNAL, 'peer ended the stream inside a message');
}

function statusOf(fields: IncomingHttpHeaders | undefined): CallStatus | null {
  const code = fields?.['grpc-status'];
  if (typeof code !== 'string') {
    const httpStatus = fields?.[':status'];
    // A proxy or a non-gRPC server answering: what grpc-js reports for such a response.
    if (typeof httpStatus === 'number' && httpStatus !== 200) return new CallStatus(Status.UNAVAILABLE, `HTTP status ${httpStatus}`);
    return null;
  }
  const message = fields?.['grpc-message'];
  return new CallStatus(Number(code), typeof message === 'string' ? decodeURIComponent(message) : '');
}

/** The status of a call whose stream failed or ended without one: ours if we cancelled it, else the link's fault. */
function linkFailure(stream: ClientHttp2Stream, ending: CallEnding, err: unknown): CallStatus {
  if (err instanceof FramingError) return new CallStatus(err.tooLarge ? Status.RESOURCE_EXHAUSTED : Status.INTERNAL, err.message);
  if (ending.cancelled === 'deadline') return new CallStatus(Status.DEADLINE_EXCEEDED, 'deadline exceeded');
  if (ending.cancelled === 'cancelled') return new CallStatus(Status.CANCELLED, 'call cancelled');
  const why = err instanceof Error ? err.message : `stream closed (code ${stream.rstCode ?? 'none'})`;
  return new CallStatus(Status.UNAVAILABLE, why);
}
