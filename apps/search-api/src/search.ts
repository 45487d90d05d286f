import { describeError, isDotrankError } from '@dotrank/core';
import type { Candidate, FusionMode } from '@dotrank/core';
import type { RerankRequest, RerankResult, ServerDeps } from './types.js';
import type { SearchParams } from './validation.js';

export interface RerankOutcome {
  result?: RerankResult;
  /** Why the first-stage order was served instead: timeout | queue_unavailable | rerank_failed: <message> */
  degradedReason?: string;
  rerankMs: number;
}

/** Maps a rerank failure to the `reason` of a degraded response. */
export function degradedReasonFor(error: unknown): string {
  if (isDotrankError(error)) {
    if (error.code === 'timeout') return 'timeout';
    // the queue itself unreachable; a job that failed in a worker is a rerank failure
    if (error.code === 'unavailable') return error.field === 'reranker' ? `rerank_failed: ${error.problem}` : 'queue_unavailable';
  }
  if (error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError')) return 'timeout';
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'ETIMEDOUT') return 'queue_unavailable';
  return `rerank_failed: ${describeError(error)}`;
}

/**
 * Runs one rerank with a hard deadline: whatever the reranker does, this settles within `deadlineMs`
 * (the reranker is told the deadline too and is aborted when it passes). Never throws.
 */
export async function rerankWithDeadline(deps: Pick<ServerDeps, 'reranker' | 'queueAvailable'>, request: RerankRequest, deadlineMs: number): Promise<RerankOutcome> {
  const started = performance.now();
  if (deps.queueAvailable && !deps.queueAvailable()) return { degradedReason: 'queue_unavailable', rerankMs: 0 };
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<RerankOutcome>((resolve) => {
    timer = setTimeout(() => {
      controller.abort(new Error('rerank deadline passed'));
      resolve({ degradedReason: 'timeout', rerankMs: performance.now() - started });
    }, deadlineMs);
  });
  const work = deps.reranker.rerank(request, { deadlineMs, signal: controller.signal }).then(
    (result): RerankOutcome => ({ result, rerankMs: performance.now() - started }),
    (error: unknown): RerankOutcome => ({ degradedReason: degradedReasonFor(error), rerankMs: performance.now() - started }),
  );
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

export interface SearchHit {
  id: string;
  rank: number;
  score: number;
  bm25Score: number;
  tasbScore?: number;
  text: string;
}

export interface SearchResponse {
  query: string;
  results: SearchHit[];
  fusion: FusionMode;
  degraded: boolean;
  reason?: string;
  timings: Record<string, number>;
  cache?: { hits: number; misses: number };
  requestId?: string;
}

/** First-stage order as results: what a degraded (or fusion=bm25) response carries. */
export function firstStageHits(candidates: readonly Candidate[], k: number): SearchHit[] {
  return candidates.slice(0, k).map((c, i) => ({ id: c.id, rank: i + 1, score: c.score, bm25Score: c.score, text: c.text }));
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;

/** The worker's stage timings, under their own names (its `totalMs` becomes `workerTotalMs`). */
export function workerTimings(result: RerankResult): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(result.timings)) {
    if (typeof value !== 'number') continue;
    out[key === 'totalMs' ? 'workerTotalMs' : key] = round(value);
  }
  return out;
}

/** The `/search` pipeline: first stage, then a deadline-bound rerank, degrading to the first-stage order. */
export async function runSearch(deps: ServerDeps, params: SearchParams, deadlineMs: number, requestId: string): Promise<SearchResponse> {
  const started = performance.now();
  const candidates = await deps.source.search(params.q, { k: params.candidates, ...(params.filter ? { filter: params.filter } : {}) });
  const firstStageMs = performance.now() - started;

  if (params.fusion === 'bm25' || candidates.length === 0) {
    return {
      query: params.q,
      results: firstStageHits(candidates, params.k),
      fusion: params.fusion,
      degraded: false,
      timings: { firstStageMs: round(firstStageMs), rerankMs: 0, totalMs: round(performance.now() - started) },
      requestId,
    };
  }

  const outcome = await rerankWithDeadline(
    deps,
    {
      query: params.q,
      candidates,
      fusion: params.fusion,
      k: params.k,
      ...(params.alpha !== undefined ? { alpha: params.alpha } : {}),
      requestId,
    },
    params.deadlineMs ?? deadlineMs,
  );
  const timings = { firstStageMs: round(firstStageMs), rerankMs: round(outcome.rerankMs) };
  if (!outcome.result) {
    return {
      query: params.q,
      results: firstStageHits(candidates, params.k),
      fusion: params.fusion,
      degraded: true,
      reason: outcome.degradedReason ?? 'rerank_failed: unknown',
      timings: { ...timings, totalMs: round(performance.now() - started) },
      requestId,
    };
  }
  const result = outcome.result;
  return {
    query: params.q,
    results: result.results.slice(0, params.k).map((r, i) => ({
      id: r.id,
      rank: i + 1,
      score: r.score,
      bm25Score: r.bm25Score,
      ...(r.tasbScore !== undefined ? { tasbScore: r.tasbScore } : {}),
      text: r.text,
    })),
    fusion: result.fusion,
    degraded: false,
    timings: { ...timings, totalMs: round(performance.now() - started), ...workerTimings(result) },
    cache: result.cache,
    requestId,
  };
}
