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
  /** Answers GETs; made by narInfoLookup, once per server. */
  readonly lookup: NarInfoLookup;
  readonly maxNarInfoBytes?: number;
  readonly uploadIdleTimeoutMs?: number;
}

export const NARINFO_TYPE = 'text/x-nix-narinfo';

/** The route's pattern, also its label in the access log and metrics (the hot path answers under it too). */
export const NARINFO_ROUTE = '/:hash.narinfo';

/** A narinfo answer: its text, or null for a path not held. Shared by the route and the hot path (hot-path.ts). */
export type NarInfoLookup = (hashPart: string) => Promise<string | null>;

export function narInfoLookup(store: GuardedStore, onPathAccess?: (digest: Uint8Array) => void): NarInfoLookup {
  // PathInfos are immutable and a caching service hands out the same object per hit: format each once.
  const texts = new WeakMap<PathInfo, string>();
  const textOf = (info: PathInfo): string => {
    const cached = texts.get(info);
    if (cached !== undefined) return cached;
    const text = formatNarInfo(narInfoFor(info));
    texts.set(info, text);
    return text;
  };
  return async (hashPart) => {
    const info = await store.pathInfos.get(parseStorePathHashPart(hashPart));
    if (!info) return null;
    onPathAccess?.(info.storePath.digest);
    return textOf(info);
  };
}

/** The body of a narinfo miss (a miss is an answer, not a failure: no error object, no stack capture). */
export const NARINFO_MISS = 'no such path\n';

export async function narInfoRoutes(
  app: FastifyInstance,
  { lookup, store, maxNarInfoBytes = DEFAULT_MAX_NARINFO_BYTES, uploadIdleTimeoutMs = DEFAULT_UPLOAD_IDLE_TIMEOUT_MS }: NarInfoOptions,
): Promise<void> {
  app.get<{ Params: { hash: string } }>(NARINFO_ROUTE, { schema: { params: HASH_PART_PARAMS }, config: { cachePolicy: 'narinfo' } }, async (request, reply) => {
    const text = await lookup(request.params.hash);
    if (text === null) return reply.code(404).type('text/plain; charset=utf-8').send(NARINFO_MISS);
    return sendEncoded(request, reply.type(NARINFO_TYPE), text);
  });

  app.put<{ Params: { hash: string } }>(NARINFO_ROUTE, { schema: { params: HASH_PART_PARAMS } }, async (request, reply) => {
    const text = await readTextBody(request, maxNarInfoBytes, uploadIdleTimeoutMs);
    const info = await receiveNarInfo(store, parseStorePathHashPart(request.params.hash), text);
    request.log.info({ storePath: info.storePath.basename, narSize: info.narSize }, 'path info committed');
    return reply.code(204).send();
  });
}
