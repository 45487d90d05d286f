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
  /** The best-scoring window of a long hit (DOTRANK_DOC_SCORE other than `first`): offsets in its passage text. */
  passage?: BestPassage;
}

/** A window of a hit's passage text: its text, offsets (UTF-16 code units, end exclusive) and dense score. */
export interface BestPassage {
  text: string;
  start: number;
  end: number;
  score: number;
}

/** The `highlight` key of the best passage when the passage text is not one field (or that field is highlighted). */
export const PASSAGE_HIGHLIGHT_FIELD = '_dotrank_passage';

/** One reranked hit: its id, its fused score and its raw model score. */
export interface WindowRanking {
  id: string;
  score: number;
  tasbScore?: number;
  /** Its best window, when the reranker split it into windows. */
  passage?: BestPassage;
}

/**
 * The hit's `highlight` with the best passage added, as Elasticsearch writes highlights (field -> fragments): under
 * the passage's one text field, or `_dotrank_passage` when the text joins several fields or Elasticsearch already
 * highlighted that field (its own fragments are kept as they are).
 */
function withPassageHighlight(hit: Json, passage: BestPassage, textFields: readonly string[] | undefined): Json {
  const existing = hit['highlight'] !== null && typeof hit['highlight'] === 'object' ? (hit['highlight'] as Json) : {};
  const field = textFields?.length === 1 && !(textFields[0]! in existing) ? textFields[0]! : PASSAGE_HIGHLIGHT_FIELD;
  return { ...existing, [field]: [passage.text] };
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
  plan: Pick<ProxySearchPlan, 'scoreMapping' | 'minScore' | 'window'> & {
    passage?: Pick<ProxySearchPlan['passage'], 'textFields'>;
  },
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
    const hit: Json = { ...read.hits[index]!, _score: score, _dotrank: meta };
    if ('passage' in item && item.passage) {
      meta.passage = item.passage;
      hit['highlight'] = withPassageHighlight(hit, item.passage, plan.passage?.textFields);
    }
    hits.push(hit);
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
