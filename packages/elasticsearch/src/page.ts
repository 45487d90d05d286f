// Pages of a reranked window: the window built once from the first-stage response and the rerank (hits in final
// order with their `_score` and `_dotrank`), then any `from`/`size` cut from it, continued past its end by
// first-stage hits the window did not hold.
import type { HitMeta, ResponseMeta } from '@dotrank/core';
import { elasticsearchRerankScore } from './dsl.js';
import type { ProxySearchPlan } from './dsl.js';
import type { SearchHits } from './response.js';
import type { RankedWindow } from './window-cache.js';

type Json = Record<string, unknown>;

/** `_dotrank` of a proxied hit: the contract's HitMeta, plus the raw TAS-B dot product when the model scored it. */
export interface ProxiedHitMeta extends HitMeta {
  tasb_score?: number;
  /** The hit had no text in the configured fields: not reranked, placed after the reranked hits in first-stage order. */
  textless?: true;
}

/** One reranked hit: its id, its fused score and its raw model score. */
export interface WindowRanking {
  id: string;
  score: number;
  tasbScore?: number;
}

/** The final `_score` of a reranked hit: the fused score, or Elasticsearch's mapping of the raw model score. */
function finalScore(item: WindowRanking, mapping: ProxySearchPlan['scoreMapping']): number {
  return mapping === 'elasticsearch' && item.tasbScore !== undefined
    ? elasticsearchRerankScore(item.tasbScore)
    : item.score;
}

/**
 * The window of a first-stage response: hits in `ranking` order with their final `_score` (or, without a ranking, in
 * the cluster's order with their own scores), each with `_dotrank`; `min_score` applied to the final score.
 * `exhausted` when the cluster returned fewer hits than the window asked for.
 */
export function buildWindow(
  read: SearchHits,
  ranking: readonly WindowRanking[] | undefined,
  plan: Pick<ProxySearchPlan, 'scoreMapping' | 'minScore' | 'window'>,
): RankedWindow {
  const position = new Map(read.candidates.map((c, i) => [c.id, i]));
  const order = ranking ?? read.candidates.map((c) => ({ id: c.id, score: c.score }));
  const textless = new Set(read.textless);
  const hits: Json[] = [];
  for (const item of order) {
    const index = position.get(item.id);
    if (index === undefined) continue;
    const score = ranking ? finalScore(item, plan.scoreMapping) : item.score;
    if (ranking && plan.minScore !== undefined && score < plan.minScore) continue;
    const meta: ProxiedHitMeta = { first_stage_score: read.candidates[index]!.score, first_stage_rank: index + 1 };
    if ('tasbScore' in item && item.tasbScore !== undefined) meta.tasb_score = item.tasbScore;
    if (textless.has(item.id)) meta.textless = true;
    hits.push({ ...read.hits[index]!, _score: score, _dotrank: meta });
  }
  const { hits: _hits, ...hitsObject } = read.response['hits'] as Json;
  return {
    v: 1,
    hits,
    ids: read.candidates.map((c) => c.id),
    envelope: { ...read.response, hits: hitsObject },
    exhausted: read.hits.length < plan.window,
  };
}

/**
 * First-stage hits fetched past the window (from rank `fetchedFrom` + 1), each with its `_dotrank`, without those
 * the window already holds (the index may have changed between the two requests).
 */
export function continuationHits(hits: readonly Json[], fetchedFrom: number, window: RankedWindow): Json[] {
  const held = new Set(window.ids);
  const out: Json[] = [];
  hits.forEach((hit, i) => {
    if (typeof hit['_id'] === 'string' && held.has(hit['_id'])) return;
    const score = typeof hit['_score'] === 'number' ? hit['_score'] : null;
    const meta: ProxiedHitMeta = { first_stage_score: score, first_stage_rank: fetchedFrom + i + 1 };
    out.push({ ...hit, _dotrank: meta });
  });
  return out;
}

/** The part of a page that lies past the window, as a first-stage `from`/`size`; undefined when none does. */
export function pastWindow(
  window: RankedWindow,
  from: number,
  size: number,
  continues: boolean,
): { from: number; size: number } | undefined {
  if (!continues || window.exhausted) return undefined;
  const start = Math.max(from, window.ids.length);
  const end = from + size;
  return end > start ? { from: start, size: end - start } : undefined;
}

/** The response bytes of one page: the window's envelope, the page's hits, `max_score` and the top-level `_dotrank`. */
export function writePage(window: RankedWindow, hits: readonly Json[], meta: ResponseMeta): Buffer {
  let max: number | null = null;
  for (const hit of hits)
    if (typeof hit['_score'] === 'number' && (max === null || hit['_score'] > max)) max = hit['_score'];
  const hitsObject = window.envelope['hits'] as Json;
  const response: Json = { ...window.envelope, hits: { ...hitsObject, max_score: max, hits }, _dotrank: meta };
  return Buffer.from(JSON.stringify(response), 'utf8');
}
