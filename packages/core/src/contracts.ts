/**
 * Contracts shared by every path that answers a search (the `/search` route, the `_search` proxy, the CLI): why an
 * answer was degraded, and the `_dotrank` metadata a proxied response and each of its hits carry.
 */

/** Why an answer is in first-stage order instead of reranked. The human-readable text goes in `detail`. */
export const DEGRADED_REASONS = ['timeout', 'queue_unavailable', 'no_workers', 'overloaded', 'rerank_failed'] as const;
export type DegradedReason = (typeof DEGRADED_REASONS)[number];

/** Why one answer was degraded: the reason's code and a sentence for people (`detail`). */
export interface Degradation {
  reason: DegradedReason;
  detail: string;
}

/**
 * Stage timings in milliseconds, one map for every path (`/search`'s documented `timings`, the proxy's
 * `_dotrank.timings`, the worker's result); a stage that did not run is absent.
 */
export type StageName =
  | 'firstStageMs'
  | 'rerankMs'
  | 'encodeQueryMs'
  | 'cacheReadMs'
  | 'encodeMissesMs'
  | 'scoreMs'
  | 'queueWaitMs'
  | 'workerTotalMs'
  | 'totalMs';
export type StageTimings = Partial<Record<StageName, number>>;

/** `_dotrank` on each proxied hit. */
export interface HitMeta {
  first_stage_score: number | null;
  first_stage_rank: number;
  /** The best-scoring passage of a long document, once windows exist. */
  passage?: { text: string; start: number; end: number; score: number };
}

/** `_dotrank` at the top level of a proxied response. */
export interface ResponseMeta {
  reranked: boolean;
  degraded: boolean;
  reason: DegradedReason | null;
  detail?: string;
  timings: StageTimings;
  impression_id?: string;
}
