// DELETE /<hash>.narinfo[?recursive=1]: deletes a store path (a write: the access hook asks for a write token).
// Refused with 409 and the reason while a kept path refers to it or a pin keeps it; its objects go at the next GC.
import type { FastifyInstance } from 'fastify';
import { parseStorePathHashPart } from '../../nix/index.js';
import { HASH_PART_PARAMS } from '../schemas.js';

/** Deletes store paths by 20-byte digest; returns the basenames deleted. */
export type DeletePaths = (digests: readonly Uint8Array[], recursive: boolean) => Promise<string[]>;

export interface NarInfoDeleteOptions {
  readonly deletePaths: DeletePaths;
}

export async function narInfoDeleteRoutes(app: FastifyInstance, { deletePaths }: NarInfoDeleteOptions): Promise<void> {
  app.delete<{ Params: { hash: string }; Querystring: { recursive?: string } }>(
    '/:hash.narinfo',
    { schema: { params: HASH_PART_PARAMS } },
    async (request, reply) => {
      const recursive = request.query.recursive === '1' || request.query.recursive === 'true';
      const deleted = await deletePaths([parseStorePathHashPart(request.params.hash)], recursive);
      request.log.info({ deleted, recursive }, 'store paths deleted');
      return reply.type('text/plain; charset=utf-8').send(deleted.map((name) => `deleted ${name}\n`).join(''));
    },
  );
}
