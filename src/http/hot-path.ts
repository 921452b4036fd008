// The narinfo hot path: GET and HEAD of /<hash>.narinfo answered from Node's request event, before Fastify.
// A narinfo is the commonest request by far (Nix asks one per path of a closure, and most are misses on a cache
// holding a part of the world), and Fastify's routing, hooks, request and reply objects and promises are CPU it need not
// spend (one process, wrk -t2 -c32: ~21–23 µs a 404 through Fastify, ~18–22 µs here, ~13–16 µs for a bare Node
// server answering a constant; the rest is Node's HTTP, its garbage and the socket write). What an answer
// needs is done here too, by the same functions the Fastify path uses: access check, cache control, the access log
// line, metrics and access recording. Everything else (a coding asked for, a token missing or wrong, a query string,
// a failing store, a server closing) is handed to Fastify as it came, so those answers are defined in one place.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { writesAccessLines } from './access-log.js';
import { type AccessControl, readAllowed } from './auth.js';
import type { CacheControlFor } from './cache-control.js';
import type { RequestObserver } from './observe.js';
import { NARINFO_MISS, NARINFO_ROUTE, NARINFO_TYPE, type NarInfoLookup } from './routes/narinfo.js';
import { HASH_PART_PATTERN } from './schemas.js';

type RequestListener = (request: IncomingMessage, response: ServerResponse) => void;

export interface HotPathOptions {
  readonly lookup: NarInfoLookup;
  readonly access: AccessControl | undefined;
  readonly cacheControl: CacheControlFor;
  readonly observers: readonly RequestObserver[];
}

const NARINFO_URL = new RegExp(`^/(${HASH_PART_PATTERN})\\.narinfo$`);

/**
 * Puts the hot path in front of Fastify's request listener on `app.server` (the server Fastify made, keeping its
 * timeouts). Call once the routes are registered, before listening.
 */
export function installHotPath(app: FastifyInstance, options: HotPathOptions): void {
  const server: Server = app.server;
  // Fastify's listener is the first: it is added as the server is made, before any plugin could add its own.
  const [fastify] = server.listeners('request');
  if (!fastify) throw new Error('no request listener (Fastify) on the server');
  server.removeListener('request', fastify as RequestListener);
  server.prependListener('request', hotPath(app, options, fastify as RequestListener));
}

function hotPath(app: FastifyInstance, { lookup, access, cacheControl, observers }: HotPathOptions, fastify: RequestListener): RequestListener {
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  const hitCacheControl = cacheControl(200, 'narinfo');
  const missCacheControl = cacheControl(404, 'narinfo');
  let answered = 0;

  async function answer(request: IncomingMessage, response: ServerResponse, hashPart: string, started: number): Promise<void> {
    let text: string | null;
    try {
      text = await lookup(hashPart);
    } catch {
      // Fastify asks again and answers the failure (status, one-line reason, error log) as for any route.
      return fastify(request, response);
    }
    const status = text === null ? 404 : 200;
    const body = text ?? NARINFO_MISS;
    const length = Buffer.byteLength(body);
    response.statusCode = status;
    response.setHeader('content-type', text === null ? 'text/plain; charset=utf-8' : NARINFO_TYPE);
    response.setHeader('content-length', length);
    if (text !== null) response.setHeader('vary', 'Accept-Encoding');
    const cache = text === null ? missCacheControl : hitCacheControl;
    if (cache) response.setHeader('cache-control', cache);
    // A string goes out in one write with the header block; HEAD gets the headers only (Node drops the body).
    response.end(body);
    const observation = {
      method: request.method ?? 'GET',
      route: NARINFO_ROUTE,
      status,
      bytesIn: 0,
      bytesOut: request.method === 'HEAD' ? 0 : length,
      durationMs: performance.now() - started,
    };
    const observed = { log: requestLog(request), url: request.url ?? '', refusal: null };
    // Only finished(): started() is where observers follow uploads, and a narinfo GET is none.
    for (const observer of observers) observer.finished(observed, observation);
  }

  // A child logger carries the reqId (as Fastify's request loggers do), made only where a line can be written.
  function requestLog(request: IncomingMessage): FastifyBaseLogger {
    if (!writesAccessLines(app.log)) return app.log;
    const header = request.headers['x-request-id'];
    return app.log.child({ reqId: typeof header === 'string' ? header : `narinfo-${(++answered).toString(36)}` });
  }

  return (request, response) => {
    const started = performance.now();
    const method = request.method;
    const match = (method === 'GET' || method === 'HEAD') && !closing ? NARINFO_URL.exec(request.url ?? '') : null;
    const { headers } = request;
    if (!match?.[1] || headers['accept-encoding'] !== undefined || !readAllowed(access, headers.authorization)) {
      return fastify(request, response);
    }
    answer(request, response, match[1], started).catch((err: unknown) => {
      app.log.error({ err }, 'narinfo answer failed');
      response.destroy();
    });
  };
}
