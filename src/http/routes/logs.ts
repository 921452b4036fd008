// GET|PUT /log/<drv basename>: build logs, as `nix store copy-log --to` uploads and `nix log --store` reads them
// (nix-http-protocol.md §3). Stored brotli-compressed; served encoded as the client asks (encoding.ts).
import type { FastifyInstance } from 'fastify';
import { NarBridgeError } from '../../errors.js';
import { MAX_BUILD_LOG_BYTES, openBuildLog, parseDrvName, writeBuildLog, type BuildLogIndex, type Store } from '../../store/index.js';
import { sendFromBrotli } from '../encoding.js';

interface LogOptions {
  readonly store: Store;
  readonly buildLogs: BuildLogIndex;
}

const LOG_PARAMS = {
  type: 'object',
  properties: { drv: { type: 'string', pattern: '^[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+._?=-]+\\.drv$', maxLength: 250 } },
  required: ['drv'],
} as const;

interface LogRequest {
  Params: { drv: string };
}

export async function logRoutes(app: FastifyInstance, { store, buildLogs }: LogOptions): Promise<void> {
  app.get<LogRequest>('/log/:drv', { schema: { params: LOG_PARAMS } }, async (request, reply) => {
    const stored = await openBuildLog(store.blobs, buildLogs, parseDrvName(request.params.drv));
    if (!stored) throw new NarBridgeError('NB_ERR_NOT_FOUND', 'no build log for this derivation');
    return sendFromBrotli(request, reply.type('text/plain; charset=utf-8'), stored);
  });

  app.put<LogRequest>('/log/:drv', { schema: { params: LOG_PARAMS } }, async (request, reply) => {
    if (Number(request.headers['content-length'] ?? 0) > MAX_BUILD_LOG_BYTES) {
      throw new NarBridgeError('NB_ERR_TOO_LARGE', `build log larger than ${MAX_BUILD_LOG_BYTES} bytes`);
    }
    const drv = parseDrvName(request.params.drv);
    const { logSize, storedSize } = await writeBuildLog(store.blobs, buildLogs, drv, request.raw);
    request.log.info({ drv: drv.basename, logSize, storedSize }, 'build log stored');
    return reply.code(204).send();
  });
}
