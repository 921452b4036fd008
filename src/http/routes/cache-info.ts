// GET /nix-cache-info. Nix PUTs the file when a GET fails; we always serve it, and accept a PUT harmlessly.
import type { FastifyInstance } from 'fastify';
import { STORE_DIR } from '../../nix/index.js';
import { discardBody } from '../body.js';

interface CacheInfoOptions {
  readonly priority: number;
}

export async function cacheInfoRoutes(app: FastifyInstance, opts: CacheInfoOptions): Promise<void> {
  const body = `StoreDir: ${STORE_DIR}\nWantMassQuery: 1\nPriority: ${opts.priority}\n`;
  app.get('/nix-cache-info', async (_request, reply) => reply.type('text/x-nix-cache-info').send(body));
  app.put('/nix-cache-info', async (request, reply) => {
    await discardBody(request.raw);
    return reply.code(204).send();
  });
}
