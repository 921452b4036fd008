// GET|HEAD|PUT /<hash>.narinfo: PathInfo lookup rendered as narinfo text; uploads become PathInfos.
import type { FastifyInstance } from 'fastify';
import { formatNarInfo, parseStorePathHashPart } from '../../nix/index.js';
import { narInfoFor, receiveNarInfo, type GuardedStore, type PathInfo } from '../../store/index.js';
import { readTextBody } from '../body.js';
import { sendEncoded } from '../encoding.js';
import { DEFAULT_MAX_NARINFO_BYTES, DEFAULT_UPLOAD_IDLE_TIMEOUT_MS } from '../limits.js';
import { HASH_PART_PARAMS } from '../schemas.js';

interface NarInfoOptions {
  readonly store: GuardedStore;
  readonly maxNarInfoBytes?: number;
  readonly uploadIdleTimeoutMs?: number;
  /** Told the digest of every narinfo served. */
  readonly onPathAccess?: (digest: Uint8Array) => void;
}

export async function narInfoRoutes(
  app: FastifyInstance,
  { store, maxNarInfoBytes = DEFAULT_MAX_NARINFO_BYTES, uploadIdleTimeoutMs = DEFAULT_UPLOAD_IDLE_TIMEOUT_MS, onPathAccess }: NarInfoOptions,
): Promise<void> {
  // PathInfos are immutable and a caching service hands out the same object per hit: format each once.
  const texts = new WeakMap<PathInfo, string>();
  const textOf = (info: PathInfo): string => {
    const cached = texts.get(info);
    if (cached !== undefined) return cached;
    const text = formatNarInfo(narInfoFor(info));
    texts.set(info, text);
    return text;
  };

  app.get<{ Params: { hash: string } }>(
    '/:hash.narinfo',
    { schema: { params: HASH_PART_PARAMS }, config: { cachePolicy: 'narinfo' } },
    async (request, reply) => {
      const info = await store.pathInfos.get(parseStorePathHashPart(request.params.hash));
      // A miss is an answer, not a failure (and the commonest one): no error object, no stack capture.
      if (!info) return reply.code(404).type('text/plain; charset=utf-8').send('no such path\n');
      onPathAccess?.(info.storePath.digest);
      return sendEncoded(request, reply.type('text/x-nix-narinfo'), textOf(info));
    },
  );

  app.put<{ Params: { hash: string } }>('/:hash.narinfo', { schema: { params: HASH_PART_PARAMS } }, async (request, reply) => {
    const text = await readTextBody(request, maxNarInfoBytes, uploadIdleTimeoutMs);
    const info = await receiveNarInfo(store, parseStorePathHashPart(request.params.hash), text);
    request.log.info({ storePath: info.storePath.basename, narSize: info.narSize }, 'path info committed');
    return reply.code(204).send();
  });
}
