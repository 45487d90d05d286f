// Reading a `_search` response into rerank candidates, and writing the reranked (or degraded) response back with
// dotrank's `_dotrank` metadata (contracts in @dotrank/core: HitMeta, ResponseMeta).
import type { Candidate, HitMeta, ResponseMeta } from '@dotrank/core';
import type { ResolvedSourceOptions } from './options.js';
import { passageFromHit } from './query.js';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A parsed `_search` response whose hits can be reranked. */
export interface SearchHits {
  /** The whole parsed response (written back with the new hit order). */
  response: Json;
  /** `hits.hits` in the cluster's order. */
  hits: Json[];
  /**
   * One candidate per hit, same order: id and text from `passageFromHit`, score `_score`. A hit without text (none
   * of the configured fields) is a candidate with empty text: the reranker places it after the others (textless).
   */
  candidates: Candidate[];
  /** Ids of the hits without text, in first-stage order. */
  textless: string[];
}

/**
 * The candidate of one hit, or why it cannot be one. Same id and text as the Elasticsearch source gives; without text
 * it is still a candidate (text empty), without an id it cannot be one.
 */
function candidateOf(hit: unknown, passage: ResolvedSourceOptions): Candidate | string {
  if (!isObject(hit)) return 'a hit is not an object';
  if (typeof hit['_score'] !== 'number') return 'a hit has no _score';
  let text: string;
  let id: string;
  try {
    ({ id, text } = passageFromHit(hit as { _id?: string; _source?: unknown }, passage));
  } catch {
    return passage.idField === '_id'
      ? 'a hit has no _id'
      : `a hit has neither ${passage.idField} (ELASTICSEARCH_ID_FIELD) nor an _id`;
  }
  return { id, text, score: hit['_score'] };
}

/**
 * The hits of a decoded `_search` response body as rerank candidates, or why they cannot be reranked (not JSON, no
 * hits, a hit without score or id, two hits with one id). Hits without text are candidates, listed in `textless`.
 */
export function readSearchHits(body: Buffer, passage: ResolvedSourceOptions): SearchHits | { why: string } {
  let response: unknown;
  try {
    response = JSON.parse(body.toString('utf8'));
  } catch {
    return { why: 'response is not JSON' };
  }
  const hitsObject = isObject(response) ? response['hits'] : undefined;
  const hits = isObject(hitsObject) ? hitsObject['hits'] : undefined;
  if (!Array.isArray(hits) || hits.length === 0) return { why: 'no hits' };
  const candidates: Candidate[] = [];
  const textless: string[] = [];
  const ids = new Set<string>();
  for (const hit of hits) {
    const candidate = candidateOf(hit, passage);
    if (typeof candidate === 'string') return { why: candidate };
    if (ids.has(candidate.id)) return { why: `two hits have the id ${candidate.id}` };
    ids.add(candidate.id);
    candidates.push(candidate);
    if (candidate.text.trim() === '') textless.push(candidate.id);
  }
  return { response: response as Json, hits: hits as Json[], candidates, textless };
}

/** A reranked hit: its candidate id and its new score. */
export interface RankedHit {
  id: string;
  score: number;
}

/**
 * The response bytes to send: hits in `ranking` order with `_score` the rerank score (or, without a ranking, in the
 * cluster's order with their own scores), each with `_dotrank` (its first-stage score and rank), cut to `size`,
 * `hits.max_score` recomputed, and `meta` as the top-level `_dotrank`.
 */
export function writeSearchResponse(
  read: SearchHits,
  ranking: readonly RankedHit[] | undefined,
  meta: ResponseMeta,
  size?: number,
): Buffer {
  const position = new Map(read.candidates.map((c, i) => [c.id, i]));
  const order = ranking ?? read.candidates.map((c) => ({ id: c.id, score: c.score }));
  const out: Json[] = [];
  for (const item of order.slice(0, size ?? order.length)) {
    const index = position.get(item.id);
    if (index === undefined) continue;
    const hit = read.hits[index]!;
    const hitMeta: HitMeta = { first_stage_score: read.candidates[index]!.score, first_stage_rank: index + 1 };
    out.push({ ...hit, _score: item.score, _dotrank: hitMeta });
  }
  const hitsObject = read.response['hits'] as Json;
  const response: Json = {
    ...read.response,
    hits: { ...hitsObject, max_score: maxScore(out), hits: out },
    _dotrank: meta,
  };
  return Buffer.from(JSON.stringify(response), 'utf8');
}

function maxScore(hits: readonly Json[]): number | null {
  let max: number | null = null;
  for (const hit of hits)
    if (typeof hit['_score'] === 'number' && (max === null || hit['_score'] > max)) max = hit['_score'];
  return max;
}
