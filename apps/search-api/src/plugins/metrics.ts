// `/metrics` (Prometheus) and `/api/stats` (the dashboard's live view), and the per-request counters behind them.
import fp from 'fastify-plugin';
import type { FastifyPluginAsync } from 'fastify';
import { ApiMetrics, queryCacheHitRatio, summarize } from '../metrics.js';
import type { ServerDeps } from '../types.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** This server's metrics: the search and proxy plugins record their searches here. */
    apiMetrics: ApiMetrics;
  }
}

export interface MetricsPluginOptions {
  mode: ServerDeps['mode'];
  queueStats?: ServerDeps['queueStats'];
  lostJobs?: ServerDeps['lostJobs'];
  queryCache?: ServerDeps['queryCache'];
}

const LIVE_WINDOW_MS = 60_000;

const metricsPlugin: FastifyPluginAsync<MetricsPluginOptions> = async (app, options) => {
  const metrics = new ApiMetrics(options.queueStats, options.queryCache, options.lostJobs);
  app.decorate('apiMetrics', metrics);

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ route, method: request.method, status: String(reply.statusCode) });
    metrics.requestDuration.observe({ route, method: request.method }, reply.elapsedTime / 1000);
  });

  app.get('/metrics', { schema: { tags: ['health'], summary: 'Prometheus metrics' } }, async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });

  app.get(
    '/api/stats',
    { schema: { tags: ['health'], summary: 'Live summary of the last minute (dashboard)' } },
    async () => {
      const queue = options.queueStats ? await options.queueStats().catch(() => undefined) : undefined;
      const queryCache = options.queryCache?.();
      return {
        mode: options.mode,
        ...summarize(metrics.ring.recent(LIVE_WINDOW_MS), LIVE_WINDOW_MS, queue, metrics.searches),
        ...(queryCache ? { queryCacheHitRatio: queryCacheHitRatio(queryCache) } : {}),
      };
    },
  );
};

/** Decorates the instance with `apiMetrics` and counts every request (so it is registered at the root). */
export default fp(metricsPlugin, { name: 'dotrank-metrics', fastify: '5.x' });
