// A lean gRPC client for the hot lookups only (BlobService Read and Stat, DirectoryService Get: methods whose spec says
// `lean`), spoken directly over node:http2. Why: a NAR of many small files is one Read per file, and serving one
// through a B whose blobs are A's was bound by per-call CPU, not by the network (~2,000 Reads/s at any concurrency
// and RTT). grpc-js spends most of a small call's client CPU on its call, filter, resolver and load-balancer stacks:
// measured with bench/grpc-reads.ts (5,000 Reads of 1-16 KiB, 128 in flight), ~100 µs of client CPU per Read here
// against ~170 µs through grpc-js, blake3 checks included; and 1 MiB DATA frames (grpc-js takes 16 KiB) cut A's CPU
// sending a 256 MiB blob about threefold.
// The wire is the same gRPC (POST `application/grpc`, length-prefixed messages, `grpc-status` in the trailers or in a
// trailers-only answer) and failures end with the status grpc-js would report, so callers cannot tell the two apart.
// grpc-js stays for everything else (uploads, PathInfoService): those are not per-file.
import { Buffer } from 'node:buffer';
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { status as Status } from '@grpc/grpc-js';

/** Where node:http2 connects: an origin, and a unix socket or the CAs to trust for TLS. */
export interface Http2Target {
  /** `http://host:port`, `https://host:port` (TLS), or `http://localhost` over `socketPath`. */
  readonly origin: string;
  readonly socketPath: string | null;
  /** For https: the CA certificates (PEM) to verify the peer against; null trusts the system's. */
  readonly ca: Buffer | null;
}

export interface LeanOptions {
  readonly sessions: number;
  /** Receive window per stream and per session. */
  readonly windowBytes: number;
  readonly maxMessageBytes: number;
}

/**
 * How a call ended, shaped as grpc-js reports it (a `code` and `details`), which is what errorFromStatus reads:
 * the same failure gives the same NarBridgeError on either client.
 */
export class CallStatus extends Error {
  constructor(
    readonly code: Status,
    readonly details: string,
  ) {
    super(`${code} ${Status[code] ?? ''}: ${details}`);
  }
}

/** The 5-byte prefix of a gRPC message: a compressed flag and a big-endian length. */
const PREFIX_BYTES = 5;
/**
 * Node caps what a session may buffer at 10 MB and then fails its streams with ENHANCE_YOUR_CALM; the receive windows
 * bound memory instead, as grpc-js does. In megabytes.
 */
const MAX_SESSION_MEMORY_MB = 1024;
/** Peers may send DATA frames this large (the default 16 KiB cuts a 256 KiB Read message into 16 frames). */
const MAX_FRAME_BYTES = 1024 * 1024;
/** A call stops reading its stream while this many message bytes wait for the consumer (flow control then holds the peer). */
const QUEUED_BYTES_HIGH = 512 * 1024;

/** Calls spread round robin over a few HTTP/2 sessions, each opened on first use and again after it went away. */
export class LeanCalls {
  readonly #sessions: Array<ClientHttp2Session | null>;
  readonly #active = new Map<ClientHttp2Session, number>();
  readonly #authorization: string | null;
  #next = 0;
  #closed = false;

  constructor(
    private readonly target: Http2Target,
    token: string | null,
    private readonly options: LeanOptions,
  ) {
    this.#sessions = Array.from({ length: options.sessions }, () => null);
    this.#authorization = token === null ? null : `Bearer ${token}`;
  }

  /**
   * Sends `request` to `path` now and returns the answer's messages; iterating to the end throws the status unless it
   * is OK. Leaving the iteration early (or `signal`) cancels the call with RST_STREAM(CANCEL).
   */
  call(path: string, request: Uint8Array, signal: AbortSignal | undefined, deadlineMs: number | null): LeanCall {
    if (this.#closed) throw new CallStatus(Status.UNAVAILABLE, 'connection closed');
    const headers: OutgoingHttpHeaders = {
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      'grpc-accept-encoding': 'identity',
    };
    if (this.#authorization !== null) headers.authorization = this.#authorization;
    if (deadlineMs !== null) headers['grpc-timeout'] = `${deadlineMs}m`;
    const session = this.#session();
    const stream = session.request(headers, { endStream: false });
    this.#track(session, stream);
    const framed = Buffer.allocUnsafe(PREFIX_BYTES + request.byteLength);
    framed[0] = 0;
    framed.writeUInt32BE(request.byteLength, 1);
    framed.set(request, PREFIX_BYTES);
    stream.end(framed);
    return new LeanCall(stream, this.options.maxMessageBytes, signal, deadlineMs);
  }

  close(): void {
    this.#closed = true;
    for (const session of this.#sessions) session?.close();
    this.#sessions.fill(null);
  }

  /** The next session in turn, connecting (again) when it has none or its connection went away. */
  #session(): ClientHttp2Session {
    const slot = this.#next++ % this.#sessions.length;
    const existing = this.#sessions[slot];
    if (existing && !existing.closed && !existing.destroyed) return existing;
    const { origin, socketPath, ca } = this.target;
    const { windowBytes } = this.options;
    const session = http2.connect(origin, {
      settings: { initialWindowSize: windowBytes, maxFrameSize: MAX_FRAME_BYTES, enablePush: false },
      maxSessionMemory: MAX_SESSION_MEMORY_MB,
      ...(socketPath === null ? {} : { createConnection: () => netConnect(socketPath) }),
      ...(ca === null ? {} : { ca }),
    });
    session.on('error', () => undefined); // each call on it fails with the cause
    session.once('connect', () => session.setLocalWindowSize(windowBytes));
    const forget = () => {
      if (this.#sessions[slot] === session) this.#sessions[slot] = null;
    };
    session.once('close', forget);
    session.once('goaway', forget);
    session.unref();
    this.#sessions[slot] = session;
    return session;
  }

  /** A session keeps the process alive only while it has calls in flight, as grpc-js's channels do. */
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

/**
 * One call's answer: messages queue as they arrive (the stream pauses past QUEUED_BYTES_HIGH) and are pulled by
 * iteration; after the last comes the status. Listens from the start, so an answer may complete before anyone asks.
 */
export class LeanCall implements AsyncIterableIterator<Buffer> {
  readonly #stream: ClientHttp2Stream;
  readonly #maxMessageBytes: number;
  readonly #signal: AbortSignal | undefined;
  readonly #timer: NodeJS.Timeout | null;
  readonly #queue: Buffer[] = [];
  #queuedBytes = 0;
  /** Bytes of a message not yet complete, in arrival order. */
  readonly #partial: Buffer[] = [];
  #partialBytes = 0;
  /** Bytes the message in progress takes with its prefix (or just its prefix, when that is not in yet). */
  #partialNeeds = PREFIX_BYTES;
  #headers: IncomingHttpHeaders | undefined;
  #trailers: IncomingHttpHeaders | undefined;
  /** Why the stream failed or was stopped by us, when it was. */
  #failure: CallStatus | null = null;
  #streamError: Error | null = null;
  /** The final status once the stream closed (null: OK). */
  #end: { status: CallStatus | null } | null = null;
  #wake: (() => void) | null = null;

  constructor(stream: ClientHttp2Stream, maxMessageBytes: number, signal: AbortSignal | undefined, deadlineMs: number | null) {
    this.#stream = stream;
    this.#maxMessageBytes = maxMessageBytes;
    this.#signal = signal;
    signal?.addEventListener('abort', this.#onAbort, { once: true });
    this.#timer = deadlineMs === null ? null : setTimeout(() => this.#stop(() => new CallStatus(Status.DEADLINE_EXCEEDED, 'Deadline exceeded')), deadlineMs);
    stream.once('response', (headers) => {
      this.#headers = headers;
    });
    stream.once('trailers', (trailers) => {
      this.#trailers = trailers;
    });
    stream.on('data', (chunk: Buffer) => this.#onData(chunk));
    stream.on('error', (err) => {
      this.#streamError = err;
    });
    stream.once('close', () => this.#onClose());
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<Buffer, undefined>> {
    for (;;) {
      const message = this.#queue.shift();
      if (message) {
        this.#queuedBytes -= message.byteLength;
        if (this.#stream.isPaused() && this.#queuedBytes < QUEUED_BYTES_HIGH) this.#stream.resume();
        return { value: message, done: false };
      }
      if (this.#end) {
        if (this.#end.status) throw this.#end.status;
        return { value: undefined, done: true };
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  /** Leaving early: the peer is told to stop (a no-op once the call ended). */
  async return(): Promise<IteratorResult<Buffer, undefined>> {
    this.cancel();
    return { value: undefined, done: true };
  }

  cancel(): void {
    this.#stop(() => new CallStatus(Status.CANCELLED, 'Cancelled on client'));
  }

  readonly #onAbort = (): void => this.cancel();

  /** Ends the call with the status `why` makes, unless it already ended (the common case: an Error costs a stack). */
  #stop(why: () => CallStatus): void {
    if (this.#end || this.#failure) return;
    this.#failure = why();
    this.#queue.length = 0;
    this.#queuedBytes = 0;
    this.#stream.close(http2.constants.NGHTTP2_CANCEL);
  }

  #onData(chunk: Buffer): void {
    if (this.#failure) return;
    let data = chunk;
    if (this.#partialBytes > 0) {
      this.#partial.push(chunk);
      this.#partialBytes += chunk.byteLength;
      // A large message comes in many DATA frames: they are joined once, when all of it is in.
      if (this.#partialBytes < this.#partialNeeds) return;
      data = Buffer.concat(this.#partial, this.#partialBytes);
      this.#partial.length = 0;
      this.#partialBytes = 0;
    }
    let at = 0;
    this.#partialNeeds = PREFIX_BYTES;
    while (data.byteLength - at >= PREFIX_BYTES) {
      const flag = data[at];
      const length = data.readUInt32BE(at + 1);
      if (flag !== 0) {
        this.#badFraming(() => new CallStatus(Status.INTERNAL, 'Received a compressed message though only identity was accepted'));
        return;
      }
      if (length > this.#maxMessageBytes) {
        const max = this.#maxMessageBytes;
        this.#badFraming(() => new CallStatus(Status.RESOURCE_EXHAUSTED, `Received message larger than max (${length} vs. ${max})`));
        return;
      }
      if (data.byteLength - at - PREFIX_BYTES < length) {
        this.#partialNeeds = PREFIX_BYTES + length;
        break;
      }
      const message = data.subarray(at + PREFIX_BYTES, at + PREFIX_BYTES + length);
      at += PREFIX_BYTES + length;
      this.#queue.push(message);
      this.#queuedBytes += length;
    }
    if (at < data.byteLength) {
      this.#partial.push(data.subarray(at));
      this.#partialBytes = data.byteLength - at;
    }
    if (this.#queuedBytes >= QUEUED_BYTES_HIGH) this.#stream.pause();
    this.#wakeUp();
  }

  /** Bytes that are not gRPC messages: an error page's body says less than its HTTP status, which grpc-js reports then. */
  #badFraming(why: () => CallStatus): void {
    const httpStatus = this.#headers?.[':status'];
    this.#stop(typeof httpStatus === 'number' && httpStatus !== 200 ? () => httpStatusToStatus(httpStatus) : why);
  }

  #onClose(): void {
    this.#signal?.removeEventListener('abort', this.#onAbort);
    if (this.#timer) clearTimeout(this.#timer);
    this.#end = { status: this.#status() };
    if (this.#end.status) {
      this.#queue.length = 0;
      this.#queuedBytes = 0;
    }
    this.#wakeUp();
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  /** The call's status, decided as grpc-js decides it; null for OK. */
  #status(): CallStatus | null {
    if (this.#failure) return this.#failure;
    // A trailers-only answer (an error before any message) carries its status in the headers.
    const fields = this.#trailers ?? this.#headers;
    const code = fields?.['grpc-status'];
    if (typeof code === 'string') {
      const n = Number(code);
      const message = fields?.['grpc-message'];
      const status = Number.isInteger(n) && Status[n] !== undefined ? n : Status.UNKNOWN;
      if (status !== Status.OK) return new CallStatus(status, typeof message === 'string' ? safeDecodeUri(message) : '');
      if (this.#partialBytes > 0) return new CallStatus(Status.INTERNAL, 'Stream ended inside a message');
      return null;
    }
    const httpStatus = this.#headers?.[':status'];
    const rstCode = this.#stream.rstCode ?? http2.constants.NGHTTP2_NO_ERROR;
    // The connection failed (refused, TLS, reset) rather than the peer answering: grpc-js says UNAVAILABLE.
    if (this.#streamError && (this.#headers === undefined || isConnectionLoss(this.#streamError))) {
      return new CallStatus(Status.UNAVAILABLE, this.#streamError.message);
    }
    switch (rstCode) {
      case http2.constants.NGHTTP2_NO_ERROR:
        if (typeof httpStatus === 'number' && httpStatus !== 200) return httpStatusToStatus(httpStatus);
        return new CallStatus(Status.INTERNAL, `Received RST_STREAM with code ${rstCode} (Call ended without gRPC status)`);
      case http2.constants.NGHTTP2_REFUSED_STREAM:
        return new CallStatus(Status.UNAVAILABLE, 'Stream refused by server');
      case http2.constants.NGHTTP2_CANCEL:
        // Node also closes a stream with CANCEL when its connection drops: grpc-js then says UNAVAILABLE.
        if (this.#headers === undefined || this.#stream.session?.destroyed !== false) return new CallStatus(Status.UNAVAILABLE, 'Connection dropped');
        return new CallStatus(Status.CANCELLED, 'Call cancelled');
      case http2.constants.NGHTTP2_ENHANCE_YOUR_CALM:
        return new CallStatus(Status.RESOURCE_EXHAUSTED, 'Bandwidth exhausted or memory limit exceeded');
      case http2.constants.NGHTTP2_INADEQUATE_SECURITY:
        return new CallStatus(Status.PERMISSION_DENIED, 'Protocol not secure enough');
      default:
        return new CallStatus(Status.INTERNAL, `Received RST_STREAM with code ${rstCode}`);
    }
  }
}

/** What grpc-js reports for a non-gRPC HTTP answer (a proxy's error page, say). */
function httpStatusToStatus(httpStatus: number): CallStatus {
  const code =
    httpStatus === 400
      ? Status.INTERNAL
      : httpStatus === 401
        ? Status.UNAUTHENTICATED
        : httpStatus === 403
          ? Status.PERMISSION_DENIED
          : httpStatus === 404
            ? Status.UNIMPLEMENTED
            : [429, 502, 503, 504].includes(httpStatus)
              ? Status.UNAVAILABLE
              : Status.UNKNOWN;
  return new CallStatus(code, `Received HTTP status code ${httpStatus}`);
}

function isConnectionLoss(err: Error): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ECONNRESET' || code === 'ETIMEDOUT' || code === 'ERR_HTTP2_SESSION_ERROR' || code === 'ERR_HTTP2_GOAWAY_SESSION';
}

function safeDecodeUri(text: string): string {
  try {
    return decodeURI(text);
  } catch {
    return text;
  }
}
