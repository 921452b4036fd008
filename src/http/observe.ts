// Per-request accounting shared by the access log and the metrics: route, status, bytes each way, duration,
// and why a request was refused or given up. Bytes out are the socket's counter around the exchange less the
// header block; HTTP/1.1 keep-alive requests on one connection do not overlap (Nix does not pipeline), so the
// difference belongs to this request.
import type { ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    /** Request body bytes read so far, counted where bodies are read (limits.ts `idleLimited`). */
    bodyBytes: number;
    /** The one-line reason a refused request was given (set by the error handler), for the completion line. */
    refusal: string | null;
    /** The socket's bytesWritten when the request arrived. */
    socketBytesBefore: number;
  }
}

export interface RequestObservation {
  readonly method: string;
  /** The matched route pattern (`/:hash.narinfo`), or `unmatched`: never the raw URL, so labels stay few. */
  readonly route: string;
  readonly status: number;
  /** Request body bytes. */
  readonly bytesIn: number;
  /** Response body bytes (chunk framing included when the body is chunked), headers excluded. */
  readonly bytesOut: number;
  readonly durationMs: number;
}

/** A request whose client closed the connection before sending all of its body. */
interface AbortObservation {
  readonly method: string;
  readonly route: string;
  /** Body bytes read before the client went away. */
  readonly bytesIn: number;
}

/** What observers read of a finished request besides its observation: a FastifyRequest, or the hot path's stand-in. */
export interface ObservedRequest {
  /** Carries the request's reqId. */
  readonly log: FastifyBaseLogger;
  readonly url: string;
  readonly refusal: string | null;
}

export interface RequestObserver {
  started(request: FastifyRequest, reply: FastifyReply): void;
  finished(request: ObservedRequest, observation: RequestObservation): void;
  aborted?(request: FastifyRequest, observation: AbortObservation): void;
}

/**
 * Installs the hooks; call before registering routes so every route is covered. They run on every request, the
 * narinfo hot path included, so they take callbacks: an async hook costs a promise and a microtask each.
 */
export function observeRequests(app: FastifyInstance, observers: readonly RequestObserver[]): void {
  app.decorateRequest('bodyBytes', 0);
  app.decorateRequest('refusal', null);
  app.decorateRequest('socketBytesBefore', 0);
  app.addHook('onRequest', (request, reply, done) => {
    request.socketBytesBefore = request.raw.socket.bytesWritten;
    for (const observer of observers) observer.started(request, reply);
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    const sent = request.raw.socket.bytesWritten - request.socketBytesBefore;
    const observation: RequestObservation = {
      method: request.method,
      route: routeOf(request),
      status: reply.statusCode,
      // The socket often reads a small body together with the headers, before onRequest; Nix always sends
      // Content-Length on a PUT (nix-http-protocol.md §0), so that is the body's size.
      bytesIn: Number(request.headers['content-length'] ?? 0) || 0,
      bytesOut: Math.max(0, sent - headerBytes(reply.raw)),
      durationMs: reply.elapsedTime,
    };
    for (const observer of observers) observer.finished(request, observation);
    done();
  });
  app.addHook('onRequestAbort', async (request) => {
    const observation: AbortObservation = { method: request.method, route: routeOf(request), bytesIn: request.bodyBytes };
    for (const observer of observers) observer.aborted?.(request, observation);
  });
}

function routeOf(request: FastifyRequest): string {
  return request.routeOptions.url ?? 'unmatched';
}

/**
 * Node keeps the header block it wrote as `_header`; it is not in the type definitions. Its length is its size in
 * bytes: every header we send is ASCII. (Buffer.byteLength would first copy the block, built by concatenation, flat.)
 */
function headerBytes(response: ServerResponse): number {
  return '_header' in response && typeof response._header === 'string' ? response._header.length : 0;
}
