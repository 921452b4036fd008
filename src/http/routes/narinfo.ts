// GET|HEAD|PUT /<hash>.narinfo: PathInfo lookup rendered as narinfo text; uploads become PathInfos.
import type { FastifyInstance } from 'fastify';
import { NarBridgeError } from '../../errors.js';
import { formatNarInfo, parseStorePathHashPart } from '../../nix/index.js';
import { narInfoFor, receiveNarInfo, type Store } from '../../store/index.js';
import { readTextBody } from '../body.js';
import { sendEncoded } from '../encoding.js';
import { HASH_PART_PARAMS } from '../schemas.js';

export interface NarInfoOptions {
  readonly store: Store;
}

/** A narinfo lists basenames of its references; even a few thousand of them stay far below this. */
const MAX_NARINFO_BYTES = 1024 * 1024;

export async function narInfoRoutes(app: FastifyInstance, { store }: NarInfoOptions): Promise<void> {
  app.get<{ Params: { hash: string } }>('/:hash.narinfo', { schema: { params: HASH_PART_PARAMS } }, async (request, reply) => {
    const info = await store.pathInfos.get(parseStorePathHashPart(request.params.hash));
    if (!info) throw new NarBridgeError('NB_ERR_NOT_FOUND', 'no such path');
    return sendEncoded(request, reply.type('text/x-nix-narinfo'), formatNarInfo(narInfoFor(info)));
  });

  app.put<{ Params: { hash: string } }>('/:hash.narinfo', { schema: { params: HASH_PART_PARAMS } }, async (request, reply) => {
    const text = await readTextBody(request.raw, MAX_NARINFO_BYTES);
    const info = await receiveNarInfo(store, parseStorePathHashPart(request.params.hash), text);
    request.log.info({ storePath: info.storePath.basename, narSize: info.narSize }, 'path info committed');
    return reply.code(204).send();
  });
}

