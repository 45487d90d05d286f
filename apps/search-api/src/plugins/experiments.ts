// Online experiments (#19): `/search` interleaved or shadowed per DOTRANK_EXPERIMENT (or a request's `experiment=`),
// `POST /api/events` for what users did, and the report at `/api/experiments/current` and `/api/experiments/:name`.
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, Gauge } from 'prom-client';
import type { DotrankConfig } from '@dotrank/core';
import { resolve } from 'node:path';
import {
  EXPERIMENT_MODES,
  ExperimentRunner,
  FileJudgmentStore,
  RedisJudgmentStore,
  MAX_EVENTS_PER_REQUEST,
  MemoryExperimentStore,
  RedisExperimentStore,
  analyzeExperiment,
  judgmentsFileOf,
  takeEvents,
} from '@dotrank/experiments';
import type { ExperimentMode, ExperimentStore, JudgmentStore } from '@dotrank/experiments';
import { createRedisConnection } from '@dotrank/vector-cache';
import { judgmentRoutes } from '../experiments/judgments.js';
import { experimentSearch } from '../experiments/search.js';
import type { runSearch } from '../search.js';
import type { ServerDeps } from '../types.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The experiment this server runs (always there: `off` still serves requests that ask for one). */
    experiments: ExperimentRunner;
    /** `/search`'s pipeline with the experiment around it; the search plugin calls it instead of runSearch. */
    experimentSearch?: typeof runSearch;
  }
}

/** What the server is told about experiments (startServer: from configuration). */
export interface ExperimentOptions {
  name: string;
  mode: ExperimentMode;
  traffic: number;
  maxEvents: number;
  retentionDays: number;
  /** Redis for impressions and events (shared by every API process); absent = in memory. */
  redisUrl?: string;
  keyPrefix?: string;
  /** A store of the caller's (tests, benchmarks); wins over redisUrl. */
  store?: ExperimentStore;
  /** Where grades of the Judge tab go without Redis (JSON lines); default .dotrank/judgments/judgments.jsonl. */
  judgmentsFile?: string;
}

/** The experiment options of a configuration: the one mapping from DOTRANK_EXPERIMENT_* to the server. */
export function experimentOptionsFromConfig(config: DotrankConfig): ExperimentOptions {
  return {
    name: config.DOTRANK_EXPERIMENT_NAME,
    mode: config.DOTRANK_EXPERIMENT,
    traffic: config.DOTRANK_EXPERIMENT_TRAFFIC,
    maxEvents: config.DOTRANK_EXPERIMENT_MAX_EVENTS,
    retentionDays: config.DOTRANK_EXPERIMENT_RETENTION_DAYS,
    keyPrefix: config.DOTRANK_KEY_PREFIX,
    judgmentsFile: judgmentsFileOf(config),
    ...(config.REDIS_URL ? { redisUrl: config.REDIS_URL } : {}),
  };
}

export const DEFAULT_EXPERIMENT_OPTIONS: ExperimentOptions = {
  name: 'default',
  mode: 'off',
  traffic: 1,
  maxEvents: 1_000_000,
  retentionDays: 30,
};

function openStore(app: FastifyInstance, options: ExperimentOptions): ExperimentStore {
  if (options.store) return options.store;
  const limits = { maxEvents: options.maxEvents, retentionDays: options.retentionDays };
  if (!options.redisUrl) return new MemoryExperimentStore(limits);
  // a plain or a Cluster connection (as the URL says): every multi-key command of the store stays in one slot
  const redis = createRedisConnection(options.redisUrl, {
    onError: (error) => app.log.warn({ err: error }, 'experiment store: Redis error'),
  }) as ConstructorParameters<typeof RedisExperimentStore>[0];
  return new RedisExperimentStore(redis, {
    ...limits,
    keyPrefix: options.keyPrefix ?? 'dotrank',
    closeConnection: true,
  });
}

function openJudgments(app: FastifyInstance, options: ExperimentOptions): JudgmentStore {
  if (!options.redisUrl)
    return new FileJudgmentStore(options.judgmentsFile ?? resolve('.dotrank', 'judgments', 'judgments.jsonl'));
  const redis = createRedisConnection(options.redisUrl, {
    onError: (error) => app.log.warn({ err: error }, 'judgments store: Redis error'),
  }) as ConstructorParameters<typeof RedisJudgmentStore>[0];
  return new RedisJudgmentStore(redis, { keyPrefix: options.keyPrefix ?? 'dotrank', closeConnection: true });
}

/**
 * `dotrank_experiment_impressions_total{result}`: impressions written in the background, dropped (write buffer full)
 * or failed (Redis away), read from the store on scrape; `dotrank_experiment_impressions_buffered` waiting now.
 */
function impressionWriteMetrics(app: FastifyInstance, store: ExperimentStore): void {
  const stats = () => store.writeStats?.();
  const seen = { written: 0, dropped: 0, failed: 0 };
  new Counter({
    name: 'dotrank_experiment_impressions_total',
    help: 'Experiment impressions handed to the store, by result: written, dropped (write buffer full), failed (write error)',
    labelNames: ['result'] as const,
    registers: [app.apiMetrics.registry],
    collect() {
      const now = stats();
      if (!now) return;
      for (const result of ['written', 'dropped', 'failed'] as const) {
        if (now[result] > seen[result]) this.inc({ result }, now[result] - seen[result]);
        seen[result] = Math.max(seen[result], now[result]);
      }
    },
  });
  new Gauge({
    name: 'dotrank_experiment_impressions_buffered',
    help: 'Experiment impressions waiting in the background write buffer',
    registers: [app.apiMetrics.registry],
    collect() {
      this.set(stats()?.buffered ?? 0);
    },
  });
}

const NAME = { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' };

const reportSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    name: { type: 'string' },
    mode: { type: 'string', enum: [...EXPERIMENT_MODES] },
    impressions: { type: 'integer' },
    impressionsWithClicks: { type: 'integer' },
    wins: { type: 'integer' },
    ties: { type: 'integer' },
    losses: { type: 'integer' },
    delta: { type: 'number', description: '(wins - losses) / impressionsWithClicks; > 0 = TAS-B preferred' },
    pValue: { type: 'number', description: 'two-sided exact sign test' },
    ci: { type: 'array', items: { type: 'number' }, description: '95 % bootstrap interval for delta' },
    impressionsFor80Power: { type: ['integer', 'null'] },
    impressionsStillNeeded: { type: ['integer', 'null'] },
    perQuery: { type: 'array', items: { type: 'object', additionalProperties: true } },
    shadow: { type: 'object', additionalProperties: true },
    store: { type: 'string', enum: ['redis', 'memory'] },
  },
};

const eventSchema = {
  type: 'object',
  description:
    '{impressionId, type: click|dwell|conversion, docId, position? (1-based), timestamp?, eventId?}; UBI names query_id, action_name, event_attributes.object.object_id, position.ordinal are accepted too',
};

const experimentsPlugin: FastifyPluginAsync<{
  deps: ServerDeps;
  options: ExperimentOptions;
  /** Eval outputs the Judge tab may pool the query sets of. */
  evals?: { evalDir: string; collectionDirs?: string[] };
}> = async (app, opts) => {
  const { options } = opts;
  const store = openStore(app, options);
  const runner = new ExperimentRunner({
    name: options.name,
    mode: options.mode,
    traffic: options.traffic,
    store,
    onError: (error, what) => app.log.warn({ err: error }, `experiment: ${what} failed`),
  });
  app.decorate('experiments', runner);
  if (app.hasDecorator('apiMetrics')) impressionWriteMetrics(app, store);
  app.decorate('experimentSearch', experimentSearch(runner));
  const judgments = openJudgments(app, options);
  app.addHook('onClose', async () => {
    await runner.settled();
    if (!options.store) await store.close();
    await judgments.close();
  });
  await app.register(judgmentRoutes, {
    deps: opts.deps,
    runner,
    store: judgments,
    ...(opts.evals ? { evals: opts.evals } : {}),
  });

  app.post('/api/events', {
    schema: {
      tags: ['experiments'],
      summary: 'Log user events (clicks, dwell, conversions) on an experiment impression: one or a batch',
      body: { anyOf: [eventSchema, { type: 'array', items: eventSchema, maxItems: MAX_EVENTS_PER_REQUEST }] },
    },
    handler: async (request) => takeEvents(request.body, store),
  });

  const report = async (name: string) => {
    const [impressions, events] = await Promise.all([store.impressions(name), store.events(name)]);
    const mode = name === options.name ? options.mode : (impressions.at(-1)?.mode ?? 'off');
    return { ...analyzeExperiment(impressions, events, { name, mode }), store: store.kind };
  };
  app.get('/api/experiments', {
    schema: { tags: ['experiments'], summary: 'Experiments with anything logged, and the current one' },
    handler: async () => ({ current: options.name, mode: options.mode, names: await store.experiments() }),
  });
  app.get('/api/experiments/current', {
    schema: { tags: ['experiments'], summary: 'Report of the configured experiment', response: { 200: reportSchema } },
    handler: async () => report(options.name),
  });
  app.get<{ Params: { name: string } }>('/api/experiments/:name', {
    schema: {
      tags: ['experiments'],
      summary: 'Report of one experiment by name',
      params: { type: 'object', properties: { name: NAME }, required: ['name'] },
      response: { 200: reportSchema },
    },
    handler: async (request) => report(request.params.name),
  });
  app.get<{ Params: { name: string } }>('/api/experiments/:name/export', {
    schema: {
      tags: ['experiments'],
      summary: 'Impressions and events of one experiment as JSON lines ({"kind": "impression" | "event", ...})',
      params: { type: 'object', properties: { name: NAME }, required: ['name'] },
    },
    handler: async (request, reply) => {
      const name = request.params.name;
      const [impressions, events] = await Promise.all([store.impressions(name), store.events(name)]);
      const lines = [
        ...impressions.map((i) => JSON.stringify({ kind: 'impression', ...i })),
        ...events.map((e) => JSON.stringify({ kind: 'event', ...e })),
      ];
      return reply.type('application/x-ndjson').send(lines.length ? `${lines.join('\n')}\n` : '');
    },
  });
};

/** Registered before the search plugin (at the root), so `/search` finds `experimentSearch`. */
export default fp(experimentsPlugin, { name: 'dotrank-experiments', fastify: '5.x' });
