// GET /metrics: the Prometheus text exposition of the server's metrics (every worker's, with serve --workers).
import type { FastifyInstance } from 'fastify';
import type { HttpMetrics } from '../metrics.js';

interface MetricsOptions {
  readonly metrics: HttpMetrics;
}

export async function metricsRoutes(app: FastifyInstance, { metrics }: MetricsOptions): Promise<void> {
  app.get('/metrics', async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.exposition()));
}
