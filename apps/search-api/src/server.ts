import { randomUUID, timingSafeEqual } from 'node:crypto';
import Fastify from 'fastify';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import { DEGRADED_REASONS, FUSION_MODES, isDotrankError } from '@dotrank/core';
import { ForwardingClient, resolveSourceOptions } from '@dotrank/elasticsearch';
import { dashboardPlugin } from './dashboard.js';
import { evalRoutes } from './evals.js';
import { evalExtraRoutes } from './routes/evals-extra.js';
import { ApiMetrics, summarize } from './metrics.js';
import type { Stage } from './metrics.js';
import { proxyPlugin } from './proxy.js';
import { runSearch } from './search.js';
import type { SearchResponse } from './search.js';
import type { ServerDeps, ServerOptions } from './types.js';
import { parseSearchParams } from './validation.js';

const PUBLIC_PATHS = new Set(['/healthz', '/readyz']);
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

declare module 'fastify' {
  interface FastifyRequest {
    /** True when `Authorization: ApiKey <dotrank key>` authenticated the request (the proxy then drops it). */
    dotrankAuthByAuthorization?: boolean;
  }
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

const searchSchemaProps = {
  q: { type: 'string', description: 'Query text (1 byte .. 10 kB)' },
  k: { type: 'integer', minimum: 1, maximum: 1000, default: 10, description: 'Number of results' },
  candidates: { type: 'integer', minimum: 1, maximum: 1000, default: 100, description: 'First-stage depth (>= k)' },
  fusion: { type: 'string', enum: [...FUSION_MODES], default: 'tasb' },
  alpha: { type: 'number', minimum: 0, maximum: 1, description: 'Interpolation weight (fusion=interpolate)' },
  deadlineMs: { type: 'integer', minimum: 1, description: 'Rerank deadline override (capped)' },
};

const searchResponseSchema = {
  type: 'object',
  properties: {
    query: { type: 'string' },
    results: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          rank: { type: 'integer' },
          score: { type: 'number', description: 'Final score (TAS-B dot product for fusion=tasb, BM25 for bm25)' },
          bm25Score: { type: 'number' },
          tasbScore: { type: 'number' },
          text: { type: 'string' },
        },
      },
    },
    fusion: { type: 'string' },
    degraded: { type: 'boolean', description: 'true = first-stage order served (see reason)' },
    reason: { type: 'string', enum: [...DEGRADED_REASONS], description: `when degraded, why: ${DEGRADED_REASONS.join(' | ')}` },
    detail: { type: 'string', description: 'when degraded, the reason in words' },
    timings: { type: 'object', additionalProperties: { type: 'number' } },
    cache: { type: 'object', properties: { hits: { type: 'integer' }, misses: { type: 'integer' } } },
    requestId: { type: 'string' },
  },
};

const errorSchema = {
  type: 'object',
  properties: { error: { type: 'string' }, field: { type: 'string' }, message: { type: 'string' } },
};

// Validation is ours (field-naming 400s); the schemas only describe the API in /docs.
const describeOnly = {
  validatorCompiler: () => () => true,
  serializerCompiler: () => (data: unknown) => JSON.stringify(data),
};

/**
 * Wires the HTTP API around its dependencies. Pure wiring: no environment, no network of its own beyond the
 * configured proxy target, so tests drive it with `app.inject`.
 */
export async function buildServer(deps: ServerDeps, options: ServerOptions = {}): Promise<FastifyInstance> {
  const deadlineMs = options.deadlineMs ?? 500;
  const maxDeadlineMs = options.maxDeadlineMs ?? Math.min(60_000, Math.max(deadlineMs, deadlineMs * 10));
  const maxCandidates = options.maxCandidates ?? 1000;
  const metrics = new ApiMetrics(deps.queueStats);

  const app = Fastify({
    logger: options.logger ?? { level: 'info' },
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    // the dashboard plugin builds the dashboard first when it is missing or stale (vite: half a minute or more)
    pluginTimeout: 300_000,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
  });

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    if (!options.apiKey) return;
    const path = request.url.split('?')[0] ?? '/';
    if (PUBLIC_PATHS.has(path)) return;
    const header = request.headers['x-api-key'];
    const auth = request.headers['authorization'];
    if (typeof header === 'string' && sameSecret(header, options.apiKey)) return;
    if (typeof auth === 'string' && auth.startsWith('ApiKey ') && sameSecret(auth.slice(7).trim(), options.apiKey)) {
      request.dotrankAuthByAuthorization = true;
      return;
    }
    return reply
      .code(401)
      .header('www-authenticate', 'ApiKey')
      .send({ error: 'unauthorized', field: 'x-api-key', message: 'x-api-key: missing or wrong API key (send x-api-key: <key> or Authorization: ApiKey <key>)' });
  });

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ route, method: request.method, status: String(reply.statusCode) });
    metrics.requestDuration.observe({ route, method: request.method }, reply.elapsedTime / 1000);
  });

  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (isDotrankError(error)) {
      const status = error.code === 'invalid_input' ? 400 : error.code === 'not_found' ? 404 : error.code === 'unavailable' ? 503 : 500;
      if (status >= 500) request.log.error({ err: error }, 'request failed');
      return reply.code(status).send(error.toJSON());
    }
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.code(413).send({ error: 'payload_too_large', field: 'body', message: `body: larger than the ${app.initialConfig.bodyLimit} byte limit` });
    }
    if (error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || error instanceof SyntaxError) {
      return reply.code(400).send({ error: 'invalid_input', field: 'body', message: `body: malformed JSON (${error.message})` });
    }
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return reply.code(415).send({ error: 'invalid_input', field: 'content-type', message: 'content-type: send application/json' });
    }
    if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
      return reply.code(error.statusCode).send({ error: 'invalid_input', field: 'request', message: error.message });
    }
    request.log.error({ err: error }, 'request failed');
    return reply.code(500).send({ error: 'internal', message: 'internal error (see server log for the request id)' });
  });

  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: 'not_found', field: 'path', message: `path: no route ${request.method} ${request.url.split('?')[0]}` }),
  );

  await app.register(fastifySwagger, {
    openapi: {
      info: { title: 'dotrank search API', version: '0.1.0', description: 'BM25 candidates reranked with TAS-B; degrades to BM25 order on deadline.' },
      components: { securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' } } },
      ...(options.apiKey ? { security: [{ apiKey: [] }] } : {}),
    },
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });

  app.get('/healthz', { schema: { tags: ['health'], summary: 'Process is alive' } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { schema: { tags: ['health'], summary: 'Model, Redis and candidate source reachable (503 names what is not)' } }, async (_request, reply) => {
    const checks: Record<string, () => Promise<boolean>> = { source: async () => (await deps.source.count()) >= 0, ...deps.readiness };
    const results: Record<string, string> = {};
    await Promise.all(
      Object.entries(checks).map(async ([name, check]) => {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<boolean>((res) => (timer = setTimeout(() => res(false), 2000)));
        const ok = await Promise.race([check().catch(() => false), timeout]);
        clearTimeout(timer);
        results[name] = ok ? 'ok' : 'unavailable';
      }),
    );
    const failing = Object.keys(results).filter((n) => results[n] !== 'ok').sort();
    if (failing.length) return reply.code(503).send({ status: 'not_ready', mode: deps.mode, failing, checks: results });
    return { status: 'ready', mode: deps.mode, checks: results };
  });

  app.get('/metrics', { schema: { tags: ['health'], summary: 'Prometheus metrics' } }, async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });

  app.get('/api/stats', { schema: { tags: ['health'], summary: 'Live summary of the last minute (dashboard)' } }, async () => {
    const queue = deps.queueStats ? await deps.queueStats().catch(() => undefined) : undefined;
    return { mode: deps.mode, ...summarize(metrics.ring.recent(60_000), 60_000, queue, metrics.searches) };
  });

  const limits = { maxCandidates, maxDeadlineMs };
  const handle = async (request: FastifyRequest, input: unknown, fromQueryString: boolean): Promise<SearchResponse> => {
    const params = parseSearchParams(input, fromQueryString, limits);
    const response = await runSearch(deps, params, deadlineMs, String(request.id));
    const t = response.timings;
    const stages: Partial<Record<Stage, number>> = {
      firstStage: t['firstStageMs'],
      total: t['totalMs'],
      ...(params.fusion !== 'bm25' ? { rerank: t['rerankMs'] } : {}),
      ...(t['queueWaitMs'] !== undefined ? { queueWait: t['queueWaitMs'] } : {}),
      ...(t['encodeQueryMs'] !== undefined ? { encodeQuery: t['encodeQueryMs'] } : {}),
      ...(t['cacheReadMs'] !== undefined ? { cacheRead: t['cacheReadMs'] } : {}),
      ...(t['encodeMissesMs'] !== undefined ? { encodeMisses: t['encodeMissesMs'] } : {}),
      ...(t['scoreMs'] !== undefined ? { score: t['scoreMs'] } : {}),
    };
    metrics.recordSearch(stages, response.reason, response.cache);
    if (response.degraded) request.log.warn({ reason: response.reason }, 'degraded search response');
    return response;
  };

  app.get(
    '/search',
    {
      ...describeOnly,
      schema: {
        tags: ['search'],
        summary: 'Search: first stage + TAS-B rerank',
        querystring: { type: 'object', required: ['q'], properties: { ...searchSchemaProps, filter: { type: 'string', description: 'URL-encoded JSON equality map' } } },
        response: { 200: searchResponseSchema, 400: errorSchema },
      },
    },
    async (request) => handle(request, request.query, true),
  );
  app.post(
    '/search',
    {
      ...describeOnly,
      schema: {
        tags: ['search'],
        summary: 'Search (JSON body)',
        body: {
          type: 'object',
          required: ['q'],
          properties: { ...searchSchemaProps, filter: { type: 'object', additionalProperties: true, description: 'field: value | [values]' } },
        },
        response: { 200: searchResponseSchema, 400: errorSchema, 413: errorSchema },
      },
    },
    async (request) => handle(request, request.body ?? {}, false),
  );

  if (options.evalDir) {
    await app.register(evalRoutes, { evalDir: options.evalDir });
    await app.register(evalExtraRoutes, { evalDir: options.evalDir, collectionDirs: options.collectionDirs ?? [] });
  }

  const dashboard = options.dashboard ?? (options.dashboardDir ? { outDir: options.dashboardDir } : undefined);
  if (dashboard) await app.register(dashboardPlugin, dashboard);

  if (deps.proxy) {
    const forwarder = new ForwardingClient(deps.proxy);
    await app.register(proxyPlugin, {
      deps,
      forwarder,
      passage: resolveSourceOptions(deps.proxy.passage),
      deadlineMs,
      metrics,
      bodyLimit: app.initialConfig.bodyLimit ?? 1024 * 1024,
    });
    app.addHook('onClose', async () => forwarder.close());
  }

  app.addHook('onClose', async () => {
    await deps.onClose?.();
  });
  return app;
}
