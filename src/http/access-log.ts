// The access log: one `request completed` line per request, with route, status, bytes and duration (and the
// reason for a refusal), on the request's child logger (so it carries the reqId). Fastify's own per-request lines
// are turned off around it. A client that leaves mid-upload gets one `warn` line instead.
import { type FastifyBaseLogger, LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import type { RequestObserver } from './observe.js';

/** Levels at which the completion line is written. */
const INFO_OR_BELOW = new Set(['info', 'debug', 'trace']);

/** Whether `log` writes the completion line. */
export const writesAccessLines = (log: FastifyBaseLogger): boolean => INFO_OR_BELOW.has(log.level);

export const accessLog: RequestObserver = {
  started() {},
  finished(request, { method, route, status, bytesIn, bytesOut, durationMs }) {
    // Run below info (`--log-level warn`), a server does not even gather the line: this runs for every narinfo.
    if (!writesAccessLines(request.log)) return;
    const rounded = Math.round(durationMs * 1000) / 1000;
    const reason = request.refusal === null ? {} : { reason: request.refusal };
    request.log.info({ method, url: request.url, route, status, bytesIn, bytesOut, durationMs: rounded, ...reason }, 'request completed');
  },
  aborted(request, { method, route, bytesIn }) {
    request.log.warn({ method, url: request.url, route, bytesIn }, 'client went away during upload');
  },
};

/** Drops Fastify's `incoming request` and plain `request completed` lines; keeps its error and stream-error lines. */
export class AccessLogController extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null, request: FastifyRequest, reply: FastifyReply, metadata?: Record<string, unknown>): void {
    if (error) super.requestCompleted(error, request, reply, metadata);
  }
}
