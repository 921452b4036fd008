// Per-request accounting shared by the access log and the metrics: route, status, bytes each way, duration.
// Bytes out are the socket's counter around the exchange (headers included); HTTP/1.1 keep-alive requests on one
// connection do not overlap (Nix does not pipeline), so the difference belongs to this request.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

export interface RequestObservation {
  readonly method: string;
  /** The matched route pattern (`/:hash.narinfo`), or `unmatched`: never the raw URL, so labels stay few. */
  readonly route: string;
  readonly status: number;
  /** Request body bytes. */
  readonly bytesIn: number;
  /** Response bytes, headers included. */
  readonly bytesOut: number;
  readonly durationMs: number;
}

export interface RequestObserver {
  started(request: FastifyRequest, reply: FastifyReply): void;
  finished(request: FastifyRequest, observation: RequestObservation): void;
}

/** Installs the hooks; call before registering routes so every route is covered. */
export function observeRequests(app: FastifyInstance, observers: readonly RequestObserver[]): void {
  const written = new WeakMap<FastifyRequest, number>();
  app.addHook('onRequest', async (request, reply) => {
    written.set(request, request.raw.socket.bytesWritten);
    for (const observer of observers) observer.started(request, reply);
  });
  app.addHook('onResponse', async (request, reply) => {
    const socket = request.raw.socket;
    const observation: RequestObservation = {
      method: request.method,
      route: request.routeOptions.url ?? 'unmatched',
      status: reply.statusCode,
      // The socket often reads a small body together with the headers, before onRequest; Nix always sends
      // Content-Length on a PUT (nix-http-protocol.md §0), so that is the body's size.
      bytesIn: Number(request.headers['content-length'] ?? 0) || 0,
      bytesOut: socket.bytesWritten - (written.get(request) ?? socket.bytesWritten),
      durationMs: reply.elapsedTime,
    };
    for (const observer of observers) observer.finished(request, observation);
  });
}
