import type { Candidate, FusionMode } from '@dotrank/core';

export type Normalization = 'minmax' | 'zscore';

export interface RerankRequest {
  query: string;
  /** First-stage candidates, best first (their `score` is the first-stage score, e.g. BM25). */
  candidates: Candidate[];
  fusion: FusionMode;
  /** Return only the best k (default: all candidates). */
  k?: number;
  /** Weight of the normalized first-stage score in `interpolate` (default DEFAULT_ALPHA = 0.5). */
  alpha?: number;
  /** Score normalization in `interpolate` (default 'minmax'). */
  normalization?: Normalization;
  requestId?: string;
}

export interface RankedItem {
  id: string;
  /** 1-based. */
  rank: number;
  /**
   * The fused score the list is ordered by; for fusion `tasb` the dot product itself, for `bm25` the first-stage score.
   * A candidate without text (not reranked, placed after the reranked ones) has its first-stage score here.
   */
  score: number;
  /** The first-stage score as received. */
  bm25Score: number;
  /** Dot product of query and passage vectors (absent for fusion `bm25`, which runs no model). */
  tasbScore?: number;
  text: string;
  /**
   * The candidate's best-scoring passage window, when it was split into windows (DOTRANK_DOC_SCORE other than
   * `first`): its text, its offsets in `text` (UTF-16 code units, end exclusive) and its dense score.
   */
  passage?: BestPassage;
}

export interface BestPassage {
  text: string;
  start: number;
  end: number;
  score: number;
}

export interface RerankTimings {
  encodeQueryMs: number;
  cacheReadMs: number;
  encodeMissesMs: number;
  scoreMs: number;
  totalMs: number;
  /** Time the job waited in the queue (QueueReranker only). */
  queueWaitMs?: number;
}

export interface RerankResult {
  results: RankedItem[];
  fusion: FusionMode;
  timings: RerankTimings;
  cache: { hits: number; misses: number };
  /**
   * Ids of the candidates whose text was empty or only whitespace, when there were any: they have no dense score, so
   * they follow the reranked candidates in first-stage order (fuseWithTextless), without a `tasbScore`.
   */
  textless?: string[];
}

export interface RerankOptions {
  /** Give up after this many ms (RerankTimeoutError, code 'timeout'). */
  deadlineMs?: number;
  signal?: AbortSignal;
}

export interface Reranker {
  rerank(req: RerankRequest, opts?: RerankOptions): Promise<RerankResult>;
  close(): Promise<void>;
}
