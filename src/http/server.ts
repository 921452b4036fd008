// Builds the Fastify app: wires the endpoint plugins to a store and maps errors to statuses in one place.
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { NarBridgeError } from '../errors.js';
import type { BuildLogIndex, GuardedStore, RealisationService } from '../store/index.js';
import { installAccessControl, type AccessControl } from './auth.js';
import { AccessLogController, accessLog } from './access-log.js';
import { cacheControlFor, installCacheControl } from './cache-control.js';
import { closeUnusedSocketsOnClose } from './close-unused-sockets.js';
import { statusFor } from './errors.js';
import { DEFAULT_HTTP_LIMITS, type HttpLimits } from './limits.js';
import { errorSerializer } from './log-errors.js';
import type { HttpMetrics } from './metrics.js';
import { installHotPath } from './hot-path.js';
import { observeRequests, type RequestObserver } from './observe.js';
import { healthRoutes } from './routes/health.js';
import { cacheInfoRoutes } from './routes/cache-info.js';
import { listingRoutes } from './routes/listing.js';
import { logRoutes } from './routes/logs.js';
import { metricsRoutes } from './routes/metrics.js';
import { uiRoutes } from './ui/routes.js';
import type { LandingFacts } from './ui/landing.js';
import { narUploadRoutes } from './routes/nar-upload.js';
import { narRoutes } from './routes/nar.js';
import { narInfoLookup, narInfoRoutes } from './routes/narinfo.js';
import { adminGcRoutes, type CollectGarbage } from './routes/admin-gc.js';
import { narInfoDeleteRoutes, type DeletePaths } from './routes/narinfo-delete.js';
import { realisationRoutes } from './routes/realisations.js';

export interface ServerOptions {
  /** Composed once (composeStore) and shared with the gRPC listener: its gate checks every write. */
  readonly store: GuardedStore;
  readonly priority: number;
  readonly logger?: FastifyServerOptions['logger'];
  /** Where build logs are indexed; without it `/log/…` is not served. */
  readonly buildLogs?: BuildLogIndex;
  /** Where realisations of content-addressed derivation outputs are kept; without it `/realisations/…` is not served. */
  readonly realisations?: RealisationService;
  /** Served at /metrics and fed by every request; without it there is no /metrics. */
  readonly metrics?: HttpMetrics;
  /** Tokens and scopes; without it every request is allowed (the CLI warns when not on loopback). */
  readonly access?: AccessControl;
  readonly limits?: HttpLimits;
  /** Checked by /readyz besides the store answering, e.g. that it can still be written. */
  readonly ready?: () => Promise<void>;
  /** Public keys, store totals and recent paths for the landing page at `/`. */
  readonly landing?: LandingFacts;
  /** Store path deletion (DELETE /<hash>.narinfo); without it the route does not exist. */
  readonly deletePaths?: DeletePaths;
  /** One garbage collection on request (POST /admin/gc); without it the route does not exist. */
  readonly collectGarbage?: CollectGarbage;
  /** Told the 20-byte digest of every narinfo served (retention by last access). */
  readonly onPathAccess?: (digest: Uint8Array) => void;
}

/** What describes a body, not the request's outcome: dropped when an error answer takes the body's place. */
const ABANDONED_ANSWER_HEADERS = ['content-encoding', 'content-length', 'content-type', 'content-range', 'accept-ranges'] as const;

export async function buildServer(options: ServerOptions): Promise<FastifyInstance> {
  const { store, priority, buildLogs, metrics, access, limits = DEFAULT_HTTP_LIMITS } = options;
  const logger =
    typeof options.logger === 'object'
      ? { ...options.logger, serializers: { err: errorSerializer(options.logger.level), ...options.logger.serializers } }
      : (options.logger ?? false);
  // Fastify's own two lines per request are replaced by one completion line carrying route, status and bytes
  // (observe.ts); a proxy's X-Request-Id, when sent, becomes the reqId on every line of the request.
  const app = Fastify({ logger, return503OnClosing: true, logController: new AccessLogController(), requestIdHeader: 'x-request-id' });
  closeUnusedSocketsOnClose(app);
  const observers: RequestObserver[] = [accessLog];
  if (metrics) observers.push(metrics);
  observeRequests(app, observers);

  // Bodies are consumed by the handlers themselves (streamed NARs, capped narinfo text).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));

  app.setErrorHandler(async (err: unknown, request, reply) => {
    const isUpload = request.method === 'PUT';
    const ours = NarBridgeError.is(err);
    // Fastify's own 4xx (bad schema, bad content) keep their status and message.
    const fastifyStatus = !ours && clientStatus(err);
    const status = fastifyStatus || statusFor(ours ? err.code : null, isUpload);
    const message = (ours || fastifyStatus) && err instanceof Error ? err.message : 'internal error';
    // A client that left mid-body was logged once, as such, by the access log; what failed after is its echo.
    if (request.raw.aborted) return reply.code(status).send();
    if (status >= 500 || (!ours && !fastifyStatus)) request.log.error({ err }, 'request failed');
    else request.log.debug({ err }, 'request refused');
    request.refusal = message;
    // The error replaces an answer that failed before its first byte went out (once bytes are out, Fastify cuts the
    // connection instead): its coding, length, type and range would describe bytes never sent, and a client told
    // `Content-Encoding: gzip` could not read the one-line reason.
    for (const name of ABANDONED_ANSWER_HEADERS) reply.removeHeader(name);
    // A body refused part-way is left paused, unread: its socket then never sees the client leave and would keep
    // the server from closing on SIGTERM. Closing the connection after the answer ends it.
    if (!request.raw.complete) reply.header('connection', 'close');
    return reply.code(status).type('text/plain; charset=utf-8').send(`${message}\n`);
  });
  if (access) installAccessControl(app, access);
  const cacheControl = cacheControlFor({ privateReads: access?.privateReads ?? false });
  installCacheControl(app, cacheControl);
  app.setNotFoundHandler(async (_request, reply) => reply.code(404).type('text/plain; charset=utf-8').send('not found\n'));

  await app.register(cacheInfoRoutes, { priority });
  await app.register(healthRoutes, { store, ...(options.ready ? { ready: options.ready } : {}) });
  if (metrics) await app.register(metricsRoutes, { metrics });
  const lookup = narInfoLookup(store, options.onPathAccess);
  await app.register(narInfoRoutes, { store, lookup, maxNarInfoBytes: limits.maxNarInfoBytes, uploadIdleTimeoutMs: limits.uploadIdleTimeoutMs });
  if (options.deletePaths) await app.register(narInfoDeleteRoutes, { deletePaths: options.deletePaths });
  if (options.collectGarbage) await app.register(adminGcRoutes, { collectGarbage: options.collectGarbage });
  await app.register(narRoutes, { store });
  await app.register(narUploadRoutes, { store, limits });
  await app.register(listingRoutes, { store });
  if (buildLogs) await app.register(logRoutes, { store, buildLogs });
  if (options.realisations)
    await app.register(realisationRoutes, {
      realisations: options.realisations,
      maxBytes: limits.maxNarInfoBytes,
      uploadIdleTimeoutMs: limits.uploadIdleTimeoutMs,
    });
  await app.register(uiRoutes, { store, privateReads: access?.privateReads ?? false, ...(options.landing ? { landing: options.landing } : {}) });
  installHotPath(app, { lookup, access, cacheControl, observers });
  return app;
}

function clientStatus(err: unknown): number | false {
  const status = typeof err === 'object' && err !== null && 'statusCode' in err ? err.statusCode : undefined;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : false;
}
