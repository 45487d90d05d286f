import type { CandidateSource } from '@dotrank/core';
import type { QueryCacheStats } from '@dotrank/encoder';
import type { ElasticsearchSourceOptions, ForwardTarget, WindowStore } from '@dotrank/elasticsearch';
import type { DashboardSource } from './dashboard.js';
import type { ExperimentOptions } from './plugins/experiments.js';
import type { PassageModel } from './plugins/compat-passages.js';

import type { Reranker, RerankOptions } from '@dotrank/rerank-core';

/** The reranker contract the API talks to: rerank-core's, so any implementation (queue, in-process, a test fake) fits. */
export type { RerankRequest, RankedItem, RerankTimings, RerankResult } from '@dotrank/rerank-core';
export type RerankCallOptions = RerankOptions;
export type RerankerLike = Reranker;

/** What the queue looks like right now (collected on scrape). */
export interface QueueStats {
  depth: number;
  activeWorkers: number;
}

/** A readiness probe: resolves true when the dependency is reachable. */
export type ReadinessCheck = () => Promise<boolean>;

/**
 * Where the `/:index/_search` proxy forwards to (only this cluster is ever contacted; `connectionSettings(config)`
 * from @dotrank/elasticsearch is one), and how its hits become passages.
 */
export interface ProxyTarget extends ForwardTarget {
  /** Same options as the Elasticsearch source (`textFields`, `textSeparator`, `idField`), so a hit gives the same passage. */
  passage?: ElasticsearchSourceOptions;
  /**
   * The passage options of one index (`passageOptionsForIndex`: its DOTRANK_INDEX_CONFIG entry over the
   * ELASTICSEARCH_*_FIELDS variables); when absent every index uses `passage`.
   */
  passageFor?: (index: string) => ElasticsearchSourceOptions;
  /** False (DOTRANK_PROXY=0): the proxy routes answer 404 in Elasticsearch's error shape. Default true. */
  enabled?: boolean;
  /** Indices the proxy serves (DOTRANK_PROXY_INDICES); default the passage options' index, else `dotrank`. */
  indices?: string[];
  /** The `inference_id` of a `text_similarity_reranker` dotrank runs (DOTRANK_INFERENCE_ID, default `dotrank`). */
  inferenceId?: string;
  /** How long a reranked window is kept for the next pages (DOTRANK_WINDOW_TTL_SECONDS, default 300). */
  windowTtlSeconds?: number;
  /** Where windows are kept (Redis when configured); default an in-memory LRU. */
  windowStore?: WindowStore;
  /** The reranking model's revision, part of every window's key (a new model never serves an old window). */
  modelRevision?: string;
}

/** Everything the server needs; `startServer` builds the real ones, tests pass their own. */
export interface ServerDeps {
  source: CandidateSource;
  reranker: RerankerLike;
  /** 'queue' when reranking goes through BullMQ workers, 'in-process' otherwise. */
  mode: 'queue' | 'in-process';
  /** Elasticsearch cluster for the drop-in proxy; absent = proxy routes answer 404. */
  proxy?: ProxyTarget;
  /** Readiness probes by name (e.g. model, redis, source). `source` defaults to `source.count()`. */
  readiness?: Record<string, ReadinessCheck>;
  /** Fast check before each rerank: false = degrade at once with `queue_unavailable`. */
  queueAvailable?: () => boolean;
  /** Queue depth / active workers, collected on /metrics scrape and /api/stats. */
  queueStats?: () => Promise<QueueStats>;
  /**
   * Rerank jobs found gone from Redis at their deadline (a master lost before replicating them): each was answered
   * degraded (`timeout`); counted on /metrics as dotrank_rerank_lost_jobs_total. Queue mode only.
   */
  lostJobs?: () => number;
  /** The query-vector cache's counts of the encoder in this process (undefined until one is loaded): /metrics, /api/stats. */
  queryCache?: () => QueryCacheStats | undefined;
  /**
   * The model's passage side for /embed, /v1/embeddings and `truncate: false` (token counts): vectors read from the
   * reranker's vector cache, misses encoded here. Absent = those answer 503 naming DOTRANK_MODEL.
   */
  passages?: () => Promise<PassageModel>;
  /** Called on server close (reranker, source, connections). */
  onClose?: () => Promise<void>;
}

export interface ServerOptions {
  /** Default rerank deadline in ms (DOTRANK_RERANK_DEADLINE_MS). */
  deadlineMs?: number;
  /** Upper bound for a per-request `deadlineMs` override. Default 10 × deadlineMs, at most 60 s. */
  maxDeadlineMs?: number;
  /** Maximum first-stage depth (`candidates`), default 1000. */
  maxCandidates?: number;
  /** When set, every route except /healthz and /readyz needs this key. */
  apiKey?: string;
  /** Request body size limit in bytes, default 1 MiB. */
  bodyLimit?: number;
  /** A dashboard build served as it is at /dashboard/ (a 503 page when it has no index.html). */
  dashboardDir?: string;
  /** The dashboard to serve at /dashboard/, built from its sources first when missing or stale (wins over dashboardDir). */
  dashboard?: DashboardSource;
  /** Folder of eval outputs for /api/evals. */
  evalDir?: string;
  /** Online experiments (#19): mode, traffic, limits and where impressions live; default off, in memory. */
  experiments?: ExperimentOptions;
  /** Collection folders eval outputs may name (metrics.json `collection.name`) for qrels/queries/passages drill-down. */
  collectionDirs?: string[];
  /** pino logger options, or false to silence; default: info level. */
  logger?: boolean | Record<string, unknown>;
}
