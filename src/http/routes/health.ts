// GET /healthz (the process answers) and GET /readyz (the store answers too): for load balancers and systemd/k8s probes.
import type { FastifyInstance } from 'fastify';
import { B3Digest } from '../../castore/index.js';
import { storePathDigest } from '../../nix/index.js';
import type { Store } from '../../store/index.js';

interface HealthOptions {
  readonly store: Store;
  /** More that must hold to be ready (e.g. the store is writable); throws NB_ERR_STORAGE when not. */
  readonly ready?: () => Promise<void>;
}

/** Looked up, never expected to exist: a lookup that answers at all proves each backend is reachable. */
const PROBE_PATH_DIGEST = storePathDigest(new Uint8Array(20));
const PROBE_BLOB = B3Digest.parse(new Uint8Array(32));

export async function healthRoutes(app: FastifyInstance, { store, ready }: HealthOptions): Promise<void> {
  app.get('/healthz', async (_request, reply) => reply.type('text/plain; charset=utf-8').send('ok\n'));
  app.get('/readyz', async (_request, reply) => {
    // A failing backend throws NB_ERR_STORAGE/UPSTREAM, which the error handler turns into 5xx: not ready.
    await Promise.all([store.pathInfos.get(PROBE_PATH_DIGEST), store.blobs.has(PROBE_BLOB), store.directories.get(PROBE_BLOB), ready?.()]);
    return reply.type('text/plain; charset=utf-8').send('ready\n');
  });
}
