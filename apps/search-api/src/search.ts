import { withDeadline } from '@dotrank/core';
import type { Candidate, Degradation, DegradedReason, FusionMode, StageTimings } from '@dotrank/core';
import { RerankTimeoutError, degradationFor } from '@dotrank/rerank-core';
import type { RankedItem, RerankRequest, RerankResult, ServerDeps } from './types.js';
import type { SearchParams } from './validation.js';

export interface RerankOutcome {
  result?: RerankResult;
  /** Why the first-stage order was served instead (rerank-core's degradationFor): absent when reranked. */
  degradation?: Degradation;
  rerankMs: number;
}

/**
 * Runs one rerank with a hard deadline: whatever the reranker does, this settles within `deadlineMs` (the reranker
 * is told the deadline too, and its signal aborts when it passes). Never throws: a failure is a degradation.
 */
export async function rerankWithDeadline(
  deps: Pick<ServerDeps, 'reranker' | 'queueAvailable'>,
  request: RerankRequest,
  deadlineMs: number,
): Promise<RerankOutcome> {
  const started = performance.now();
  if (deps.queueAvailable && !deps.queueAvailable())
    return { degradation: { reason: 'queue_unavailable', detail: 'Redis is not connected' }, rerankMs: 0 };
  try {
    const result = await withDeadline((signal) => deps.reranker.rerank(request, { deadlineMs, signal }), {
      deadlineMs,
      onTimeout: (ms) => new RerankTimeoutError(ms),
    });
    return { result, rerankMs: performance.now() - started };
  } catch (error) {
    return { degradation: degradationFor(error), rerankMs: performance.now() - started };
  }
}

/** A `/search` result is rerank-core's RankedItem as it is: one shape from the reranker to the response. */
export type SearchHit = RankedItem;

export interface SearchResponse {
  query: string;
  results: SearchHit[];
  fusion: FusionMode;
  degraded: boolean;
  /** When degraded: why, as a code (DEGRADED_REASONS), and in words. */
  reason?: DegradedReason;
  detail?: string;
  timings: StageTimings;
  cache?: { hits: number; misses: number };
  /** Candidates whose text was empty or missing: not reranked, placed after the reranked ones in first-stage order. */
  textless?: string[];
  requestId?: string;
  /** Online experiment (#19): the impression's id, and the mode it ran in; each result then carries its `system`. */
  impressionId?: string;
  experiment?: 'shadow' | 'interleave';
}

/** First-stage order as results: what a degraded (or fusion=bm25) response carries. */
export function firstStageHits(candidates: readonly Candidate[], k: number): SearchHit[] {
  return candidates
    .slice(0, k)
    .map((c, i) => ({ id: c.id, rank: i + 1, score: c.score, bm25Score: c.score, text: c.text }));
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;

/** The worker's stage timings, under their own names (its `totalMs` becomes `workerTotalMs`). */
export function workerTimings(result: RerankResult): StageTimings {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(result.timings)) {
    if (typeof value !== 'number') continue;
    out[key === 'totalMs' ? 'workerTotalMs' : key] = round(value);
  }
  return out;
}

/** The `/search` pipeline: first stage, then a deadline-bound rerank, degrading to the first-stage order. */
export async function runSearch(
  deps: ServerDeps,
  params: SearchParams,
  deadlineMs: number,
  requestId: string,
  /** Receives the first stage's candidates (an experiment needs the BM25 order beside the reranked one). */
  seen?: { candidates?: readonly Candidate[] },
): Promise<SearchResponse> {
  const started = performance.now();
  const candidates = await deps.source.search(params.q, {
    k: params.candidates,
    ...(params.filter ? { filter: params.filter } : {}),
  });
  if (seen) seen.candidates = candidates;
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
      reason: outcome.degradation?.reason ?? 'rerank_failed',
      detail: outcome.degradation?.detail ?? 'no result',
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
      ...(r.passage ? { passage: r.passage } : {}),
    })),
    fusion: result.fusion,
    degraded: false,
    timings: { ...timings, totalMs: round(performance.now() - started), ...workerTimings(result) },
    cache: result.cache,
    ...(result.textless ? { textless: result.textless } : {}),
    requestId,
  };
}
