// POST /admin/gc[?dry-run=1]: one garbage collection run by the server itself, with its own --gc-* settings (a write:
// the access hook asks for a write token). Answers the run's report as JSON; `nar-bridge gc --server URL` prints it.
// A run already going (the server's schedule, `nar-bridge gc` on the data dir) is 409 with its reason.
import type { FastifyInstance } from 'fastify';
import type { GcReport } from '../../store/index.js';

/** Runs one collection (or only reports what it would reclaim). */
export type CollectGarbage = (dryRun: boolean) => Promise<GcReport>;

export interface AdminGcOptions {
  readonly collectGarbage: CollectGarbage;
}

export async function adminGcRoutes(app: FastifyInstance, { collectGarbage }: AdminGcOptions): Promise<void> {
  app.post<{ Querystring: { 'dry-run'?: string } }>('/admin/gc', async (request, reply) => {
    const dryRun = request.query['dry-run'] === '1' || request.query['dry-run'] === 'true';
    const report = await collectGarbage(dryRun);
    return reply.type('application/json').send(`${JSON.stringify(report)}\n`);
  });
}
