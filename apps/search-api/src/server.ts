import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { dashboardPlugin } from './dashboard.js';
import authPlugin from './plugins/auth.js';
import { compatPlugin } from './plugins/compat.js';
import docsPlugin from './plugins/docs.js';
import errorsPlugin from './plugins/errors.js';
import { evalsPlugin } from './plugins/evals.js';
import experimentsPlugin, { DEFAULT_EXPERIMENT_OPTIONS } from './plugins/experiments.js';
import { healthPlugin } from './plugins/health.js';
import metricsPlugin from './plugins/metrics.js';
import { searchPlugin } from './plugins/search.js';
import { proxyPlugin } from './proxy.js';
import { parseQueryString } from './querystring.js';
import type { ServerDeps, ServerOptions } from './types.js';
import { schemaController } from './validator.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const DEFAULT_BODY_LIMIT = 1024 * 1024;

/** The options with their defaults: the one place they are decided. */
function settle(options: ServerOptions) {
  const deadlineMs = options.deadlineMs ?? 500;
  return {
    deadlineMs,
    maxDeadlineMs: options.maxDeadlineMs ?? Math.min(60_000, Math.max(deadlineMs, deadlineMs * 10)),
    maxCandidates: options.maxCandidates ?? 1000,
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    dashboard: options.dashboard ?? (options.dashboardDir ? { outDir: options.dashboardDir } : undefined),
  };
}

function createFastify(options: ServerOptions, bodyLimit: number): FastifyInstance {
  const app = Fastify({
    logger: options.logger ?? { level: 'info' },
    bodyLimit,
    // the dashboard plugin builds the dashboard first when it is missing or stale (vite: half a minute or more)
    pluginTimeout: 300_000,
    schemaController,
    routerOptions: { querystringParser: parseQueryString },
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
  });
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  return app as unknown as FastifyInstance;
}

/**
 * Wires the HTTP API around its dependencies: one plugin per concern. Pure wiring: no environment, no network of its
 * own beyond the configured proxy target, so tests drive it with `app.inject`.
 */
export async function buildServer(deps: ServerDeps, options: ServerOptions = {}): Promise<FastifyInstance> {
  const settings = settle(options);
  const app = createFastify(options, settings.bodyLimit);
  await app.register(errorsPlugin, { bodyLimit: settings.bodyLimit });
  await app.register(authPlugin, options.apiKey ? { apiKey: options.apiKey } : {});
  await app.register(docsPlugin, { secured: Boolean(options.apiKey) }); // before the routes it describes
  await app.register(metricsPlugin, {
    mode: deps.mode,
    ...(deps.queueStats ? { queueStats: deps.queueStats } : {}),
    ...(deps.lostJobs ? { lostJobs: deps.lostJobs } : {}),
    ...(deps.queryCache ? { queryCache: deps.queryCache } : {}),
  });
  await app.register(healthPlugin, { deps });
  await app.register(experimentsPlugin, {
    deps,
    options: options.experiments ?? DEFAULT_EXPERIMENT_OPTIONS,
    ...(options.evalDir ? { evals: { evalDir: options.evalDir, collectionDirs: options.collectionDirs ?? [] } } : {}),
  });
  await app.register(searchPlugin, {
    deps,
    deadlineMs: settings.deadlineMs,
    maxCandidates: settings.maxCandidates,
    maxDeadlineMs: settings.maxDeadlineMs,
  });
  await app.register(compatPlugin, {
    deps,
    deadlineMs: settings.maxDeadlineMs,
    maxDocuments: settings.maxCandidates,
  });
  if (options.evalDir)
    await app.register(evalsPlugin, { evalDir: options.evalDir, collectionDirs: options.collectionDirs ?? [] });
  if (settings.dashboard) await app.register(dashboardPlugin, settings.dashboard);
  if (deps.proxy)
    await app.register(proxyPlugin, {
      deps,
      target: deps.proxy,
      deadlineMs: settings.deadlineMs,
      bodyLimit: settings.bodyLimit,
    });
  app.addHook('onClose', async () => {
    await deps.onClose?.();
  });
  return app;
}
