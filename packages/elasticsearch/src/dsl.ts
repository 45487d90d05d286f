// Reading Elasticsearch search requests: the query text to rerank with, dotrank's `rerank` body section, the
// retrievers (`standard`, and `text_similarity_reranker` when its inference id is dotrank's), whether the request can
// be reranked at all, and the first-stage request and the page (from/size) of one that can.
import { FUSION_MODES, ValidationError } from '@dotrank/core';
import type { FusionMode } from '@dotrank/core';
import { resolveSourceOptions } from './options.js';
import { extractQueryText } from './query-text.js';
import type { ResolvedSourceOptions } from './options.js';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

export { extractQueryText } from './query-text.js';

/** dotrank's `rerank` section of a search body; every field optional. */
export interface RerankSection {
  /** Query text to rerank with, instead of the one read from `query`. */
  query?: string;
  fusion?: FusionMode;
  /** `_source` fields the passage text is built from (`field` or `fields`), instead of the configured ones. */
  textFields?: string[];
  /** How many hits to fetch and rerank; the response is cut back to the requested `size`. */
  window?: number;
}

/** Checks a `rerank` section; a bad field is a ValidationError naming it (`rerank.fusion`, …), never silently ignored. */
export function readRerankSection(section: unknown): RerankSection {
  if (!isObject(section))
    throw new ValidationError('rerank', 'must be an object such as {"query": "…", "fusion": "tasb"}');
  const out: RerankSection = {};
  const { query, fusion, window } = section;
  if (query !== undefined) {
    if (typeof query !== 'string' || query.trim() === '')
      throw new ValidationError('rerank.query', 'must be a non-empty string');
    out.query = query;
  }
  if (fusion !== undefined) {
    if (typeof fusion !== 'string' || !(FUSION_MODES as readonly string[]).includes(fusion)) {
      throw new ValidationError(
        'rerank.fusion',
        `must be one of ${FUSION_MODES.join(', ')} (got ${JSON.stringify(fusion)})`,
      );
    }
    out.fusion = fusion as FusionMode;
  }
  const fieldName = section['fields'] !== undefined ? 'fields' : 'field';
  const field = section[fieldName];
  if (field !== undefined) {
    const fields = typeof field === 'string' ? [field] : field;
    if (
      !Array.isArray(fields) ||
      fields.length === 0 ||
      !fields.every((f) => typeof f === 'string' && f.trim() !== '')
    ) {
      throw new ValidationError(`rerank.${fieldName}`, 'must be a field name or a non-empty list of field names');
    }
    out.textFields = fields as string[];
  }
  if (window !== undefined) {
    if (typeof window !== 'number' || !Number.isInteger(window) || window < 1)
      throw new ValidationError('rerank.window', 'must be a positive integer');
    out.window = window;
  }
  return out;
}

/** The inner retriever of a reranker, as dotrank reads it: a `standard` retriever's query, filter and min_score. */
export interface StandardRetriever {
  query: unknown;
  filter?: unknown;
  minScore?: number;
  terminateAfter?: number;
}

/**
 * A `standard` retriever dotrank can send as a plain search (`query`, `filter`, `min_score`, `terminate_after`), or
 * why not (sort, search_after and collapse change what a window is; other retrievers are not read).
 */
export function readRetriever(retriever: unknown): StandardRetriever | { why: string } {
  if (!isObject(retriever)) return { why: 'retriever is not an object' };
  const kinds = Object.keys(retriever);
  const standard = retriever['standard'];
  if (kinds.length !== 1 || !isObject(standard)) return { why: `retriever ${kinds.join('+')} is not read yet` };
  for (const name of ['sort', 'search_after', 'collapse'] as const) {
    if (standard[name] !== undefined) return { why: `retriever.standard.${name}` };
  }
  const out: StandardRetriever = { query: standard['query'] };
  if (standard['filter'] !== undefined) out.filter = standard['filter'];
  if (typeof standard['min_score'] === 'number') out.minScore = standard['min_score'];
  if (typeof standard['terminate_after'] === 'number') out.terminateAfter = standard['terminate_after'];
  return out;
}

/** A `text_similarity_reranker` retriever dotrank runs (its `inference_id` is dotrank's). */
export interface SimilarityReranker {
  inner: StandardRetriever;
  field: string;
  inferenceText: string;
  rankWindowSize: number;
  minScore?: number;
  filter?: unknown;
}

/** Elasticsearch's default `rank_window_size` of `text_similarity_reranker`. */
export const DEFAULT_RANK_WINDOW_SIZE = 10;

const TSR = 'retriever.text_similarity_reranker';

/**
 * Reads a `text_similarity_reranker` whose `inference_id` is `inferenceId`: undefined when it is someone else's (it
 * then goes to Elasticsearch untouched); `{why}` when its inner retriever cannot be read; a ValidationError naming
 * the field when it is malformed.
 */
export function readSimilarityReranker(
  spec: unknown,
  inferenceId: string,
): SimilarityReranker | { why: string } | undefined {
  if (!isObject(spec)) throw new ValidationError(TSR, 'must be an object');
  if (spec['inference_id'] !== inferenceId) return undefined;
  const { field, inference_text: text, rank_window_size: window, min_score: minScore, filter } = spec;
  if (typeof field !== 'string' || field.trim() === '')
    throw new ValidationError(`${TSR}.field`, 'must name the field holding the passage text');
  if (typeof text !== 'string' || text.trim() === '')
    throw new ValidationError(`${TSR}.inference_text`, 'must be the query text (a non-empty string)');
  if (window !== undefined && (typeof window !== 'number' || !Number.isInteger(window) || window < 1))
    throw new ValidationError(`${TSR}.rank_window_size`, 'must be a positive integer');
  if (minScore !== undefined && (typeof minScore !== 'number' || !Number.isFinite(minScore)))
    throw new ValidationError(`${TSR}.min_score`, 'must be a number');
  if (filter !== undefined && !isObject(filter) && !Array.isArray(filter))
    throw new ValidationError(`${TSR}.filter`, 'must be a query or a list of queries');
  if (spec['retriever'] === undefined) throw new ValidationError(`${TSR}.retriever`, 'is required');
  const inner = readRetriever(spec['retriever']);
  if ('why' in inner) return { why: `${TSR}: inner ${inner.why}` };
  return {
    inner,
    field: field.trim(),
    inferenceText: text,
    rankWindowSize: (window as number | undefined) ?? DEFAULT_RANK_WINDOW_SIZE,
    ...(minScore !== undefined ? { minScore: minScore as number } : {}),
    ...(filter !== undefined ? { filter } : {}),
  };
}

/** Elasticsearch's `_score` for a reranker's raw score s (since 8.16.4, elastic/elasticsearch#120930). */
export function elasticsearchRerankScore(s: number): number {
  return Math.max(s, 0) + Math.min(Math.exp(s), 1);
}

/** How to rerank one proxied search. */
export interface ProxySearchPlan {
  /** `section`: dotrank's own (`rerank` body section or a query read); `similarity`: `text_similarity_reranker`. */
  kind: 'section' | 'similarity';
  query: string;
  fusion: FusionMode;
  /** How hits become passages: the configured options, with the text fields of a `rerank` section or retriever. */
  passage: ResolvedSourceOptions;
  /** The first-stage request, without from/size (the window's first page is asked with `size: window`). */
  firstStage: Json;
  /** How many first-stage hits are reranked. */
  window: number;
  /** The page asked for. */
  from: number;
  size: number;
  /** `section`: past the window, results continue in first-stage order; `similarity`: nothing past the window. */
  continuesPastWindow: boolean;
  /** `raw`: `_score` is the fused score; `elasticsearch`: Elasticsearch's mapping of the raw model score. */
  scoreMapping: 'raw' | 'elasticsearch';
  /** Hits whose final `_score` is below are left out (text_similarity_reranker `min_score`). */
  minScore?: number;
  /** What the window depends on: the request without from/size, `rerank` section included. */
  keyRequest: Json;
  /** Query-string parameters to forward (from/size taken out; the proxy sets them). */
  params: URLSearchParams;
}

export type ProxySearchDecision = { rerank: true; plan: ProxySearchPlan } | { rerank: false; why: string };

/** Planning settings from configuration. */
export interface PlanSettings {
  /** The `inference_id` a `text_similarity_reranker` names for dotrank to run it (DOTRANK_INFERENCE_ID). */
  inferenceId?: string;
  /** Window of dotrank's own rerank when the `rerank` section names none (default 100). */
  defaultWindow?: number;
}

export const DEFAULT_WINDOW = 100;

const QUERYSTRING_BLOCKERS = ['scroll', 'sort', 'search_after'];
const BODY_BLOCKERS = ['sort', 'search_after', 'scroll', 'pit', 'collapse', 'rescore'] as const;

/** Why the URL's parameters rule a rerank out (sorting, scrolling, no hits, no `_source`). */
function querystringBlocker(query: URLSearchParams): string | undefined {
  for (const name of QUERYSTRING_BLOCKERS) if (query.has(name)) return `${name} in query string`;
  if (query.get('size') === '0') return 'size 0';
  if (query.get('_source') === 'false') return '_source false';
  return undefined;
}

/** Why the body rules a rerank out; `fields` are the text fields a `_source` filter must keep. */
function bodyBlocker(request: Json, fields: readonly string[]): string | undefined {
  if (request['size'] === 0) return 'size 0';
  for (const name of BODY_BLOCKERS) if (request[name] !== undefined) return name;
  const source = request['_source'];
  if (source === false) return '_source false';
  if (Array.isArray(source) || typeof source === 'string') {
    const included = Array.isArray(source) ? source : [source];
    const keeps = (f: string) =>
      included.some((p) => typeof p === 'string' && (p === f || (p.endsWith('*') && f.startsWith(p.slice(0, -1)))));
    if (!fields.some(keeps)) return '_source excludes the text fields';
  }
  return undefined;
}

/** The request body as an object, or why it is not one. */
export function parseSearchBody(body: Buffer): Json | string {
  if (body.length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return 'body is not JSON';
  }
  return isObject(parsed) ? parsed : 'body is not an object';
}

/** A non-negative integer `from`/`size` of the body, else of the query string, else the default. */
function pageNumber(request: Json, params: URLSearchParams, name: 'from' | 'size', fallback: number): number {
  const raw = request[name] ?? (params.has(name) ? Number(params.get(name)) : undefined);
  if (raw === undefined) return fallback;
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 0)
    throw new ValidationError(
      name,
      `must be a non-negative integer (got ${JSON.stringify(request[name] ?? params.get(name))})`,
    );
  return raw;
}

/** The first-stage query of a reranker's inner retriever, with the reranker's and the retriever's filters. */
function innerQuery(tsr: SimilarityReranker): Json {
  const filters = [tsr.inner.filter, tsr.filter].flatMap((f) => (f === undefined ? [] : Array.isArray(f) ? f : [f]));
  const query = (tsr.inner.query ?? { match_all: {} }) as Json;
  const out: Json = { query: filters.length === 0 ? query : { bool: { must: [query], filter: filters } } };
  if (tsr.inner.minScore !== undefined) out['min_score'] = tsr.inner.minScore;
  if (tsr.inner.terminateAfter !== undefined) out['terminate_after'] = tsr.inner.terminateAfter;
  return out;
}

/** The plan of a `text_similarity_reranker` dotrank runs. */
function similarityPlan(
  request: Json,
  tsr: SimilarityReranker,
  params: URLSearchParams,
  passage: ResolvedSourceOptions,
): ProxySearchDecision {
  const options = resolveSourceOptions({ ...passage, textFields: [tsr.field] });
  const { retriever: _retriever, from: _from, size: _size, ...rest } = request;
  const why = bodyBlocker(rest, options.textFields);
  if (why) return { rerank: false, why };
  return {
    rerank: true,
    plan: {
      kind: 'similarity',
      query: tsr.inferenceText,
      fusion: 'tasb',
      passage: options,
      firstStage: { ...rest, ...innerQuery(tsr) },
      window: tsr.rankWindowSize,
      from: pageNumber(request, params, 'from', 0),
      size: pageNumber(request, params, 'size', 10),
      continuesPastWindow: false,
      scoreMapping: 'elasticsearch',
      ...(tsr.minScore !== undefined ? { minScore: tsr.minScore } : {}),
      keyRequest: withoutPage(request),
      params: withoutPageParams(params),
    },
  };
}

const withoutPage = (request: Json): Json => {
  const { from: _from, size: _size, ...rest } = request;
  return rest;
};
const withoutPageParams = (params: URLSearchParams): URLSearchParams => {
  const out = new URLSearchParams(params);
  out.delete('from');
  out.delete('size');
  return out;
};

/** The plan of dotrank's own rerank (a `rerank` section, or the query text read from the request). */
function sectionPlan(
  request: Json,
  params: URLSearchParams,
  passage: ResolvedSourceOptions,
  settings: PlanSettings,
): ProxySearchDecision {
  const { rerank: rawSection, ...rest } = request;
  const section = rawSection === undefined ? {} : readRerankSection(rawSection);
  const options = section.textFields ? resolveSourceOptions({ ...passage, textFields: section.textFields }) : passage;
  const why = bodyBlocker(rest, options.textFields);
  if (why) return { rerank: false, why };
  let dslQuery = rest['query'];
  if (rest['retriever'] !== undefined) {
    const retriever = readRetriever(rest['retriever']);
    if ('why' in retriever) return { rerank: false, why: retriever.why };
    dslQuery = retriever.query;
  }
  const text = section.query ?? extractQueryText(dslQuery) ?? params.get('q') ?? undefined;
  if (!text || text.trim() === '') return { rerank: false, why: 'no query text' };
  return {
    rerank: true,
    plan: {
      kind: 'section',
      query: text,
      fusion: section.fusion ?? 'tasb',
      passage: options,
      firstStage: withoutPage(rest),
      window: section.window ?? settings.defaultWindow ?? DEFAULT_WINDOW,
      from: pageNumber(rest, params, 'from', 0),
      size: pageNumber(rest, params, 'size', 10),
      continuesPastWindow: true,
      scoreMapping: 'raw',
      keyRequest: withoutPage(request),
      params: withoutPageParams(params),
    },
  };
}

/**
 * Decides whether a proxied `_search` (its body already parsed) can be reranked, and how. Anything it cannot rerank
 * passes through untouched (`rerank: false` with the reason): aggregations only (size 0), sorts, scroll,
 * search_after, `_source: false`, no query text, retrievers it does not read, a `text_similarity_reranker` of
 * another inference id. A malformed `rerank` section or dotrank's reranker retriever is a ValidationError.
 */
export function planProxySearch(
  body: Json | Buffer,
  params: URLSearchParams,
  passage: ResolvedSourceOptions,
  settings: PlanSettings = {},
): ProxySearchDecision {
  const blocked = querystringBlocker(params);
  if (blocked) return { rerank: false, why: blocked };
  const request = Buffer.isBuffer(body) ? parseSearchBody(body) : body;
  if (typeof request === 'string') return { rerank: false, why: request };
  const retriever = request['retriever'];
  if (isObject(retriever) && retriever['text_similarity_reranker'] !== undefined) {
    if (Object.keys(retriever).length !== 1) return { rerank: false, why: 'retriever has several kinds' };
    const tsr = readSimilarityReranker(retriever['text_similarity_reranker'], settings.inferenceId ?? 'dotrank');
    if (tsr === undefined) return { rerank: false, why: `${TSR} of another inference_id` };
    if ('why' in tsr) return { rerank: false, why: tsr.why };
    if (request['rerank'] !== undefined)
      throw new ValidationError('rerank', `give a rerank section or a ${TSR} run by dotrank, not both`);
    return similarityPlan(request, tsr, params, passage);
  }
  return sectionPlan(request, params, passage, settings);
}
