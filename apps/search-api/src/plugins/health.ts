// `/healthz` (the process is alive) and `/readyz` (what it depends on answers, each check bounded).
import type { FastifyPluginAsync } from 'fastify';
import type { ServerDeps } from '../types.js';

export interface HealthPluginOptions {
  deps: Pick<ServerDeps, 'source' | 'readiness' | 'mode'>;
  /** How long one readiness check may take before it counts as unavailable (default 2 s). */
  checkTimeoutMs?: number;
}

async function withinTime(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([check().catch(() => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const readinessSummary = 'Model, Redis and candidate source reachable (503 names what is not)';

export const healthPlugin: FastifyPluginAsync<HealthPluginOptions> = async (app, { deps, checkTimeoutMs = 2000 }) => {
  app.get('/healthz', { schema: { tags: ['health'], summary: 'Process is alive' } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { schema: { tags: ['health'], summary: readinessSummary } }, async (_request, reply) => {
    const checks: Record<string, () => Promise<boolean>> = {
      source: async () => (await deps.source.count()) >= 0,
      ...deps.readiness,
    };
    const results: Record<string, string> = {};
    await Promise.all(
      Object.entries(checks).map(async ([name, check]) => {
        results[name] = (await withinTime(check, checkTimeoutMs)) ? 'ok' : 'unavailable';
      }),
    );
    const failing = Object.keys(results)
      .filter((name) => results[name] !== 'ok')
      .sort();
    if (failing.length) return reply.code(503).send({ status: 'not_ready', mode: deps.mode, failing, checks: results });
    return { status: 'ready', mode: deps.mode, checks: results };
  });
};
