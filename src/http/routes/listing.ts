// GET|PUT /<hash>.ls: the NAR listing, computed from the Directory graph. Uploaded listings (Nix's
// `?write-nar-listing=true`) are read and dropped: ours is derived from the stored graph, so it is always right.
import type { FastifyInstance } from 'fastify';
import { NarBridgeError } from '../../errors.js';
import { parseStorePathHashPart } from '../../nix/index.js';
import { narListing, type Store } from '../../store/index.js';
import { discardBody } from '../body.js';
import { sendEncoded } from '../encoding.js';
import { HASH_PART_PARAMS } from '../schemas.js';

interface ListingOptions {
  readonly store: Store;
}

interface ListingRequest {
  Params: { hash: string };
}

export async function listingRoutes(app: FastifyInstance, { store }: ListingOptions): Promise<void> {
  app.get<ListingRequest>('/:hash.ls', { schema: { params: HASH_PART_PARAMS } }, async (request, reply) => {
    const info = await store.pathInfos.get(parseStorePathHashPart(request.params.hash));
    if (!info) throw new NarBridgeError('NB_ERR_NOT_FOUND', 'no such path');
    reply.type('application/json');
    return sendEncoded(request, reply, await narListing(info.node, store.directories));
  });

  app.put<ListingRequest>('/:hash.ls', { schema: { params: HASH_PART_PARAMS } }, async (request, reply) => {
    await discardBody(request.raw);
    return reply.code(204).send();
  });
}
