// The fault-injection suite's stack (#18): its own redis-server, the real `dotrank serve` (queue mode) and real
// worker processes, started as a deployment runs them; plus a small load generator. Shared by the soak benchmark.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { Passage } from '@dotrank/core';
import {
  repoPath,
  spawnService,
  startRedisServer,
  tinyModelDir,
  uniquePrefix,
  type OwnRedis,
  type SpawnedService,
} from '@dotrank/core/testing';
import { createEmbeddedSource } from '@dotrank/bm25';
import { readCorpus, readQueries } from '@dotrank/datasets';

const CLI = repoPath('apps/cli/bin/dotrank.js');

/** The bundled Cranfield collection: its passages (for the API's index) and its query texts (for load). */
export async function cranfield(): Promise<{ passages: Passage[]; queries: string[] }> {
  const dir = repoPath('datasets/cranfield');
  const passages: Passage[] = [];
  for await (const p of readCorpus(dir)) passages.push(p);
  return { passages, queries: (await readQueries(dir)).map((q) => q.text) };
}
const WORKER_BIN = repoPath('apps/reranker-worker/bin/reranker-worker.js');

/** The environment of a spawned service: this stack's Redis and prefix, nothing inherited that would change mode. */
function serviceEnv(redisUrl: string, prefix: string, extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    REDIS_URL: redisUrl,
    DOTRANK_QUEUE_PREFIX: prefix,
    DOTRANK_KEY_PREFIX: prefix,
    DOTRANK_LOG_LEVEL: 'warn',
    ...extra,
  };
  for (const name of ['ELASTICSEARCH_URL', 'DOTRANK_API_KEY', 'DOTRANK_PORT', 'NODE_ENV', 'DOTRANK_MODEL'])
    if (!(name in extra)) delete env[name];
  return env;
}

export interface SpawnedApi extends SpawnedService {
  url: string;
}

/** A running stack: Redis (restartable at the same port), one API, any number of workers. */
export interface FaultStack {
  redis: OwnRedis;
  redisUrl: string;
  prefix: string;
  indexDir: string;
  api: SpawnedApi;
  workers: SpawnedService[];
  /** Starts another worker (flags as `dotrank worker`) and waits until it says it is ready. */
  addWorker(args?: string[], env?: Record<string, string>): Promise<SpawnedService>;
  /** Kills Redis (SIGKILL: its data is gone) and starts a new, empty one at the same port. */
  restartRedis(): Promise<void>;
  /** A plain client to this stack's Redis (for assertions): closed by close(). */
  client(): Redis;
  /** Kills every process still running and Redis, deletes the index folder. */
  close(): Promise<void>;
}

export interface FaultStackOptions {
  /** Passages of the API's embedded index (BM25 first stage). */
  passages: Passage[];
  /** Extra environment of the API (e.g. DOTRANK_RERANK_DEADLINE_MS). */
  apiEnv?: Record<string, string>;
  /** Workers to start with (default 1), and their flags. */
  workers?: number;
  workerArgs?: string[];
  workerEnv?: Record<string, string>;
  /** Log level of every process (default warn: what the tests read). */
  logLevel?: string;
}

/** Starts the API in queue mode on `redisUrl`; resolves once it listens. */
export async function startApi(
  redisUrl: string,
  prefix: string,
  indexDir: string,
  env: Record<string, string> = {},
): Promise<SpawnedApi> {
  const api = spawnService(
    // a dashboard folder that does not exist: serve answers /dashboard/ with 503 instead of building it first
    [
      ...[CLI, 'serve', '--index-dir', indexDir, '--model', tinyModelDir(), '--port', '0'],
      ...['--eval-dir', indexDir, '--dashboard-dir', join(indexDir, 'no-dashboard')],
    ],
    serviceEnv(redisUrl, prefix, env),
    /serving on (http:\/\/\S+) /,
  );
  const match = await api.ready;
  return Object.assign(api, { url: match[1]! });
}

/** Starts a worker process (the worker app's own entry, as `dotrank worker`); `ready` resolves when it says so. */
export function spawnWorker(
  redisUrl: string,
  prefix: string,
  args: string[] = [],
  env: Record<string, string> = {},
): SpawnedService {
  return spawnService(
    [WORKER_BIN, '--model', tinyModelDir(), '--threads', '1', ...args],
    serviceEnv(redisUrl, prefix, env),
    /worker ready/,
  );
}

export async function startFaultStack(options: FaultStackOptions): Promise<FaultStack> {
  const prefix = uniquePrefix('faults');
  const dir = await mkdtemp(join(tmpdir(), 'dotrank-faults-'));
  const indexDir = join(dir, 'index');
  const source = await createEmbeddedSource({ dir: indexDir });
  await source.index(options.passages);
  await source.close();
  let redis = await startRedisServer();
  const port = Number(new URL(redis.url).port);
  const level = { DOTRANK_LOG_LEVEL: options.logLevel ?? 'warn' };
  const workerEnv = { ...level, ...options.workerEnv };
  const clients: Redis[] = [];
  const workers: SpawnedService[] = [];
  const addWorker = async (args = options.workerArgs ?? [], env = workerEnv) => {
    const worker = spawnWorker(redis.url, prefix, args, env);
    workers.push(worker);
    await worker.ready;
    return worker;
  };
  let api: SpawnedApi | undefined;
  const stack: FaultStack = {
    get redis() {
      return redis;
    },
    redisUrl: redis.url,
    prefix,
    indexDir,
    get api() {
      return api!;
    },
    workers,
    addWorker,
    async restartRedis() {
      await redis.stop();
      redis = await startRedisServer({ port });
    },
    client() {
      const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
      client.on('error', () => undefined);
      clients.push(client);
      return client;
    },
    async close() {
      await Promise.all([...workers, ...(api ? [api] : [])].map((p) => p.stop('SIGKILL')));
      for (const c of clients) c.disconnect();
      await redis.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    api = await startApi(redis.url, prefix, indexDir, { ...level, ...options.apiEnv });
    await Promise.all(Array.from({ length: options.workers ?? 1 }, () => addWorker()));
  } catch (error) {
    await stack.close();
    throw error;
  }
  return stack;
}

/** One `/search` answer as the load generator records it. */
export interface Answer {
  query: string;
  status: number;
  degraded: boolean;
  reason?: string;
  ids: string[];
  ms: number;
}

interface SearchBody {
  degraded?: boolean;
  reason?: string;
  results?: { id: string }[];
}

/** `/search` parameters besides the query. */
export interface SearchParams {
  k?: number;
  candidates?: number;
  fusion?: string;
}

/** GET /search?q=<query>&...; a network error or no answer within `timeoutMs` is status 0 (the API did not answer). */
export async function search(
  apiUrl: string,
  query: string,
  params: SearchParams = {},
  timeoutMs = 30_000,
): Promise<Answer> {
  const started = performance.now();
  const qs = new URLSearchParams({ q: query });
  for (const [name, value] of Object.entries(params)) qs.set(name, String(value));
  try {
    const res = await fetch(`${apiUrl}/search?${qs}`, { signal: AbortSignal.timeout(timeoutMs) });
    const body = (await res.json().catch(() => ({}))) as SearchBody;
    return {
      query,
      status: res.status,
      degraded: body.degraded === true,
      ...(body.reason ? { reason: body.reason } : {}),
      ids: (body.results ?? []).map((r) => r.id),
      ms: performance.now() - started,
    };
  } catch {
    return { query, status: 0, degraded: true, ids: [], ms: performance.now() - started };
  }
}

/**
 * Sends searches from `concurrency` loops until `until()` says stop (checked before each request); queries cycle
 * through `queries`. Every answer is recorded, in order of completion.
 */
export async function load(
  apiUrl: string,
  queries: readonly string[],
  concurrency: number,
  until: (sent: number) => boolean,
): Promise<Answer[]> {
  const answers: Answer[] = [];
  let sent = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (!until(sent)) {
        const query = queries[sent++ % queries.length]!;
        answers.push(await search(apiUrl, query));
      }
    }),
  );
  return answers;
}

/** Polls `check` every 20 ms until it holds; fails naming `what` after `timeoutMs`. */
export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * What shutdown may take, with room for a loaded machine: the API exits by itself after 10 s at most; the worker's
 * close steps (queue, metrics, cache, model) take at most 3 s each, then it exits.
 */
export const API_EXIT_MS = 15_000;
export const WORKER_EXIT_MS = 20_000;

/** Resolves with the process's exit code, or 'still running' if it has not exited `ms` after the call. */
export async function exitWithin(service: SpawnedService, ms: number): Promise<number | null | 'still running'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'still running'>((r) => (timer = setTimeout(() => r('still running'), ms)));
  const outcome = await Promise.race([service.exited, late]);
  clearTimeout(timer);
  return outcome;
}

/** The names of the rerank queue's keys of a stack (BullMQ's layout: `<prefix>:<prefix>-rerank:<what>`). */
export function queueKey(prefix: string, what: string): string {
  return `${prefix}:${prefix}-rerank:${what}`;
}

/**
 * Job ids by event in the rerank queue's event stream: each job's completions (one each, or it ran twice to an
 * end), final failures, and stalls (a worker lost the job's lock; BullMQ put it back in the queue).
 */
export async function jobEvents(
  client: Redis,
  prefix: string,
): Promise<{ completed: string[]; failed: string[]; stalled: string[] }> {
  const entries = await client.xrange(queueKey(prefix, 'events'), '-', '+');
  const out = { completed: [] as string[], failed: [] as string[], stalled: [] as string[] };
  for (const [, fields] of entries) {
    const get = (name: string) => fields[fields.indexOf(name) + 1];
    const event = get('event');
    if (event === 'completed' || event === 'failed' || event === 'stalled') out[event].push(get('jobId')!);
  }
  return out;
}

/** Keys left under `prefix` (SCAN: never KEYS on a shared server). */
export async function keysUnder(client: Redis, prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    found.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  return found;
}
