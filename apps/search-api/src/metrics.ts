import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DegradedReason } from '@dotrank/core';
import type { QueryCacheStats } from '@dotrank/encoder';
import type { QueueStats } from './types.js';

/** Stage names recorded per request (ms). */
export const STAGES = [
  'firstStage',
  'rerank',
  'total',
  'queueWait',
  'encodeQuery',
  'cacheRead',
  'encodeMisses',
  'score',
] as const;
export type Stage = (typeof STAGES)[number];

interface Sample {
  at: number;
  stages: Partial<Record<Stage, number>>;
  degraded: boolean;
  cacheHits: number;
  cacheMisses: number;
}

/** A fixed-size ring of recent search samples for the dashboard's live view (GET /api/stats). */
export class StatsRing {
  private readonly samples: (Sample | undefined)[];
  private next = 0;

  constructor(
    readonly capacity = 4096,
    private readonly now: () => number = Date.now,
  ) {
    this.samples = new Array<Sample | undefined>(capacity);
  }

  record(sample: Omit<Sample, 'at'>): void {
    this.samples[this.next] = { at: this.now(), ...sample };
    this.next = (this.next + 1) % this.capacity;
  }

  /** Samples of the last `windowMs`. */
  recent(windowMs: number): Sample[] {
    const since = this.now() - windowMs;
    return this.samples.filter((s): s is Sample => s !== undefined && s.at >= since);
  }
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

export interface LiveStats {
  windowSeconds: number;
  requests: number;
  totalRequests: number;
  requestsPerSecond: number;
  degradedRate: number | null;
  cacheHitRatio: number | null;
  latencyMs: Partial<Record<Stage, { p50: number | null; p95: number | null; p99: number | null }>>;
  queueDepth: number | null;
  activeWorkers: number | null;
  /** Query-vector cache hits (this process and Redis) over all lookups since start, when this process encodes queries. */
  queryCacheHitRatio?: number | null;
}

/** Hits (in-process and shared) over lookups; null before the first lookup. */
export function queryCacheHitRatio(stats: QueryCacheStats): number | null {
  const hits = stats.hits + stats.sharedHits;
  return hits + stats.misses > 0 ? hits / (hits + stats.misses) : null;
}

export function summarize(
  samples: readonly Sample[],
  windowMs: number,
  queue: QueueStats | undefined,
  totalRequests = samples.length,
): LiveStats {
  const latencyMs: LiveStats['latencyMs'] = {};
  for (const stage of STAGES) {
    const values = samples
      .map((s) => s.stages[stage])
      .filter((v): v is number => v !== undefined)
      .sort((a, b) => a - b);
    if (values.length === 0) continue;
    latencyMs[stage] = { p50: percentile(values, 50), p95: percentile(values, 95), p99: percentile(values, 99) };
  }
  const hits = samples.reduce((a, s) => a + s.cacheHits, 0);
  const misses = samples.reduce((a, s) => a + s.cacheMisses, 0);
  return {
    windowSeconds: windowMs / 1000,
    requests: samples.length,
    totalRequests,
    requestsPerSecond: samples.length / (windowMs / 1000),
    degradedRate: samples.length ? samples.filter((s) => s.degraded).length / samples.length : null,
    cacheHitRatio: hits + misses > 0 ? hits / (hits + misses) : null,
    latencyMs,
    queueDepth: queue?.depth ?? null,
    activeWorkers: queue?.activeWorkers ?? null,
  };
}

/**
 * `dotrank_query_cache_hits_total{tier}` and `dotrank_query_cache_misses_total` from an encoder's counts, read on
 * scrape (the encoder counts; these counters follow it).
 */
export function queryCacheCounters(registry: Registry, read: () => QueryCacheStats | undefined): void {
  const seen: QueryCacheStats = { hits: 0, sharedHits: 0, misses: 0 };
  const follow = (field: keyof QueryCacheStats, inc: (n: number) => void) => {
    const now = read()?.[field] ?? 0;
    if (now > seen[field]) inc(now - seen[field]);
    seen[field] = Math.max(seen[field], now);
  };
  new Counter({
    name: 'dotrank_query_cache_hits_total',
    help: 'Query vectors served from the query cache instead of encoded, by tier (process: this LRU; redis: shared)',
    labelNames: ['tier'] as const,
    registers: [registry],
    collect() {
      follow('hits', (n) => this.inc({ tier: 'process' }, n));
      follow('sharedHits', (n) => this.inc({ tier: 'redis' }, n));
    },
  });
  new Counter({
    name: 'dotrank_query_cache_misses_total',
    help: 'Query vectors encoded because no query-cache tier had them',
    registers: [registry],
    collect() {
      follow('misses', (n) => this.inc(n));
    },
  });
}

/** Redis up, queue depth and active workers, from one queue-stats call per scrape. */
function queueGauges(registry: Registry, queueStats: () => Promise<QueueStats>): void {
  // Collected on scrape; one BullMQ round trip serves both gauges.
  let pending: Promise<QueueStats | undefined> | undefined;
  const current = (): Promise<QueueStats | undefined> => {
    pending ??= queueStats()
      .catch(() => undefined)
      .finally(() => setTimeout(() => (pending = undefined), 0));
    return pending;
  };
  new Gauge({
    name: 'dotrank_redis_up',
    help: 'Whether Redis answered the queue-stats call of this scrape in time (1) or not (0)',
    registers: [registry],
    async collect() {
      this.set((await current()) ? 1 : 0);
    },
  });
  new Gauge({
    name: 'dotrank_queue_depth',
    help: 'Rerank jobs waiting in the queue',
    registers: [registry],
    async collect() {
      const stats = await current();
      if (stats) this.set(stats.depth);
    },
  });
  new Gauge({
    name: 'dotrank_queue_active_workers',
    help: 'Rerank workers connected to the queue',
    registers: [registry],
    async collect() {
      const stats = await current();
      if (stats) this.set(stats.activeWorkers);
    },
  });
}

/** The queue producer's count of lost jobs, read at each scrape (a counter only ever goes up by the difference). */
function lostJobsCounter(registry: Registry, lostJobs: () => number): void {
  let reported = 0;
  new Counter({
    name: 'dotrank_rerank_lost_jobs_total',
    help: 'Rerank jobs found gone from Redis at their deadline (lost with a master before replication); each was answered degraded (timeout)',
    registers: [registry],
    collect() {
      const now = lostJobs();
      if (now > reported) this.inc(now - reported);
      reported = now;
    },
  });
}

/** Prometheus metrics of one server (own registry, so several servers can live in one process). */
export class ApiMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'method' | 'status'>;
  readonly requestDuration: Histogram<'route' | 'method'>;
  readonly stageDuration: Histogram<'stage'>;
  readonly degraded: Counter<'reason'>;
  readonly cache: Counter<'result'>;
  readonly textless: Counter;
  readonly ring = new StatsRing();
  /** Searches recorded since start. */
  searches = 0;

  constructor(
    queueStats?: () => Promise<QueueStats>,
    queryCache?: () => QueryCacheStats | undefined,
    lostJobs?: () => number,
  ) {
    collectDefaultMetrics({ register: this.registry, prefix: 'dotrank_api_' });
    if (queryCache) queryCacheCounters(this.registry, queryCache);
    if (lostJobs) lostJobsCounter(this.registry, lostJobs);
    this.requests = new Counter({
      name: 'dotrank_http_requests_total',
      help: 'HTTP requests by route, method and status code',
      labelNames: ['route', 'method', 'status'],
      registers: [this.registry],
    });
    this.requestDuration = new Histogram({
      name: 'dotrank_http_request_duration_seconds',
      help: 'HTTP request duration by route',
      labelNames: ['route', 'method'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
    this.stageDuration = new Histogram({
      name: 'dotrank_search_stage_duration_seconds',
      help: 'Search latency per stage (firstStage, rerank, total, and the worker stages)',
      labelNames: ['stage'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [this.registry],
    });
    this.degraded = new Counter({
      name: 'dotrank_degraded_responses_total',
      help: 'Responses served in first-stage order because reranking did not complete, by reason',
      labelNames: ['reason'],
      registers: [this.registry],
    });
    this.cache = new Counter({
      name: 'dotrank_vector_cache_lookups_total',
      help: 'Passage vector cache lookups during reranking, by result (hit|miss)',
      labelNames: ['result'],
      registers: [this.registry],
    });
    this.textless = new Counter({
      name: 'dotrank_rerank_textless_candidates_total',
      help: 'Candidates without text (empty, or no configured text field in the hit): not reranked, placed after the reranked ones',
      registers: [this.registry],
    });
    if (queueStats) queueGauges(this.registry, queueStats);
  }

  /** Records one finished search (stage timings in ms). */
  recordSearch(
    stages: Partial<Record<Stage, number>>,
    degradedReason: DegradedReason | undefined,
    cache?: { hits: number; misses: number },
  ): void {
    for (const [stage, ms] of Object.entries(stages)) {
      if (typeof ms === 'number' && Number.isFinite(ms)) this.stageDuration.observe({ stage }, ms / 1000);
    }
    if (degradedReason) this.degraded.inc({ reason: degradedReason });
    if (cache) {
      if (cache.hits) this.cache.inc({ result: 'hit' }, cache.hits);
      if (cache.misses) this.cache.inc({ result: 'miss' }, cache.misses);
    }
    this.searches++;
    this.ring.record({
      stages,
      degraded: degradedReason !== undefined,
      cacheHits: cache?.hits ?? 0,
      cacheMisses: cache?.misses ?? 0,
    });
  }
}
