import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { QueryCacheStats } from '@dotrank/encoder';
import type { RerankProcessorObserver } from '@dotrank/rerank-core';

const SECONDS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30];

/** The worker's Prometheus metrics, on their own registry. */
export interface WorkerMetrics {
  registry: Registry;
  jobs: Counter<'type' | 'status'>;
  stage: Histogram<'stage'>;
  cacheHits: Counter;
  cacheMisses: Counter;
  missBatchSize: Histogram;
  candidates: Histogram;
  warmPassages: Counter<'outcome'>;
}

export function createMetrics(registry = new Registry(), withDefaults = true): WorkerMetrics {
  if (withDefaults) collectDefaultMetrics({ register: registry, prefix: 'dotrank_worker_' });
  return {
    registry,
    jobs: new Counter({
      name: 'dotrank_worker_jobs_total',
      help: 'Jobs processed, by type (rerank|warm) and status (completed|failed|invalid|expired|texts_needed: sent without texts, met an evicted vector, resent)',
      labelNames: ['type', 'status'] as const,
      registers: [registry],
    }),
    stage: new Histogram({
      name: 'dotrank_worker_stage_seconds',
      help: 'Rerank latency per stage (encode_query, cache_read, encode_misses, score, total, queue_wait)',
      labelNames: ['stage'] as const,
      buckets: SECONDS,
      registers: [registry],
    }),
    cacheHits: new Counter({
      name: 'dotrank_worker_cache_hits_total',
      help: 'Passage vectors served from the cache',
      registers: [registry],
    }),
    cacheMisses: new Counter({
      name: 'dotrank_worker_cache_misses_total',
      help: 'Passage vectors encoded because the cache had none',
      registers: [registry],
    }),
    missBatchSize: new Histogram({
      name: 'dotrank_worker_miss_batch_size',
      help: 'Passages per encoder call for cache misses',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers: [registry],
    }),
    candidates: new Histogram({
      name: 'dotrank_worker_candidates',
      help: 'Candidates per rerank job',
      buckets: [1, 10, 50, 100, 200, 500, 1000, 2000],
      registers: [registry],
    }),
    warmPassages: new Counter({
      name: 'dotrank_worker_warm_passages_total',
      help: 'Passages handled by warm jobs, by outcome (encoded|skipped|blank)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
  };
}

const seconds = (ms: number) => ms / 1000;

/**
 * `dotrank_query_cache_hits_total{tier}` and `dotrank_query_cache_misses_total` (the API's names) from the encoder's
 * counts, read on scrape.
 */
export function queryCacheCounters(registry: Registry, read: () => QueryCacheStats): void {
  const seen: QueryCacheStats = { hits: 0, sharedHits: 0, misses: 0 };
  const follow = (field: keyof QueryCacheStats, inc: (n: number) => void) => {
    const now = read()[field];
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

/** The processor's reports as these metrics. */
export function metricsObserver(metrics: WorkerMetrics): RerankProcessorObserver {
  return {
    onJob: (type, status) => metrics.jobs.inc({ type, status }),
    onRerank(timings, cache, candidates) {
      metrics.stage.observe({ stage: 'encode_query' }, seconds(timings.encodeQueryMs));
      metrics.stage.observe({ stage: 'cache_read' }, seconds(timings.cacheReadMs));
      metrics.stage.observe({ stage: 'encode_misses' }, seconds(timings.encodeMissesMs));
      metrics.stage.observe({ stage: 'score' }, seconds(timings.scoreMs));
      metrics.stage.observe({ stage: 'total' }, seconds(timings.totalMs));
      metrics.stage.observe({ stage: 'queue_wait' }, seconds(timings.queueWaitMs));
      metrics.cacheHits.inc(cache.hits);
      metrics.cacheMisses.inc(cache.misses);
      metrics.candidates.observe(candidates);
    },
    onMissBatch: (size) => metrics.missBatchSize.observe(size),
    onWarm(result) {
      metrics.warmPassages.inc({ outcome: 'encoded' }, result.encoded);
      metrics.warmPassages.inc({ outcome: 'skipped' }, result.skipped);
      metrics.warmPassages.inc({ outcome: 'blank' }, result.blank);
    },
  };
}

/** `dotrank_worker_cache_write_errors_total` from the vector store's count of failed writes, read on scrape. */
export function cacheWriteErrorsCounter(registry: Registry, read: () => number): void {
  let seen = 0;
  new Counter({
    name: 'dotrank_worker_cache_write_errors_total',
    help: 'Vector cache writes that failed (e.g. Redis full under noeviction): the job went on, the vectors were not cached',
    registers: [registry],
    collect() {
      const now = read();
      if (now > seen) this.inc(now - seen);
      seen = Math.max(seen, now);
    },
  });
}
