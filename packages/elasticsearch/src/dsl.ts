// Reading Elasticsearch search requests: the query text to rerank with, dotrank's `rerank` body section, the
// retriever (only `standard` so far), and whether the request can be reranked at all.
import { FUSION_MODES, ValidationError } from '@dotrank/core';
import type { FusionMode } from '@dotrank/core';
import { resolveSourceOptions } from './options.js';
import type { ResolvedSourceOptions } from './options.js';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Leaf queries whose text is the user's query: `match*` by field, `*query_string`/`multi_match` by `query`. */
function textOfLeaf(kind: string, spec: unknown): string[] {
  if (kind === 'multi_match' || kind === 'query_string' || kind === 'simple_query_string') {
    return isObject(spec) && typeof spec['query'] === 'string' ? [spec['query']] : [];
  }
  if (kind === 'match' || kind === 'match_phrase' || kind === 'match_bool_prefix') {
    if (!isObject(spec)) return [];
    const out: string[] = [];
    for (const value of Object.values(spec)) {
      if (typeof value === 'string') out.push(value);
      else if (isObject(value) && typeof value['query'] === 'string') out.push(value['query']);
    }
    return out;
  }
  return [];
}

/**
 * The text of `match`/`multi_match`/`query_string` queries, also inside `bool.must`/`bool.should`, joined by a
 * space; undefined when there is none (`term`, `range`, filters only). Filters are not query text.
 */
export function extractQueryText(query: unknown): string | undefined {
  const texts: string[] = [];
  const visit = (node: unknown, depth: number): void => {
    if (!isObject(node) || depth > 16) return;
    for (const [kind, spec] of Object.entries(node)) {
      if (kind === 'bool' && isObject(spec)) {
        for (const clause of ['must', 'should'] as const) {
          const value = spec[clause];
          for (const child of Array.isArray(value) ? value : [value]) visit(child, depth + 1);
        }
      } else {
        texts.push(...textOfLeaf(kind, spec));
      }
    }
  };
  visit(query, 0);
  const text = texts.join(' ').trim();
  return text === '' ? undefined : text;
}

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

/**
 * The query of a `retriever`, when dotrank can read it: `standard` (its `query`). Other retrievers (rrf, knn,
 * text_similarity_reranker, …) are read here once supported; until then the request passes through.
 */
export function readRetriever(retriever: unknown): { query: unknown } | { why: string } {
  if (!isObject(retriever)) return { why: 'retriever is not an object' };
  const kinds = Object.keys(retriever);
  const standard = retriever['standard'];
  if (kinds.length !== 1 || !isObject(standard)) return { why: `retriever ${kinds.join('+')} is not read yet` };
  for (const name of ['sort', 'search_after', 'collapse'] as const) {
    if (standard[name] !== undefined) return { why: `retriever.standard.${name}` };
  }
  return { query: standard['query'] };
}

/** How to rerank one proxied search. */
export interface ProxySearchPlan {
  query: string;
  fusion: FusionMode;
  /** How hits become passages: the configured options, with the text fields of a `rerank` section. */
  passage: ResolvedSourceOptions;
  /** The body to forward: the original bytes, or the body without its `rerank` section (and a widened `size`). */
  forwardBody: Buffer;
  /** How many hits the client asked for, when a rerank window widened the request (the response is cut back). */
  size?: number;
}

export type ProxySearchDecision = { rerank: true; plan: ProxySearchPlan } | { rerank: false; why: string };

const QUERYSTRING_BLOCKERS = ['scroll', 'sort', 'search_after'];
const BODY_BLOCKERS = ['sort', 'search_after', 'scroll', 'pit', 'collapse', 'rescore'] as const;

/** Why the URL's parameters rule a rerank out (paging, sorting, scrolling, no hits, no `_source`). */
function querystringBlocker(query: URLSearchParams): string | undefined {
  for (const name of QUERYSTRING_BLOCKERS) if (query.has(name)) return `${name} in query string`;
  if (query.get('size') === '0') return 'size 0';
  if ((Number(query.get('from')) || 0) > 0) return 'from > 0';
  if (query.get('_source') === 'false') return '_source false';
  return undefined;
}

/** Why the body rules a rerank out; `fields` are the text fields a `_source` filter must keep. */
function bodyBlocker(request: Json, fields: readonly string[]): string | undefined {
  if (request['size'] === 0) return 'size 0';
  if (typeof request['from'] === 'number' && request['from'] > 0) return 'from > 0';
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

function parseBody(body: Buffer): Json | string {
  if (body.length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return 'body is not JSON';
  }
  return isObject(parsed) ? parsed : 'body is not an object';
}

/**
 * Decides whether a proxied `_search` can be reranked, and how. Anything it cannot rerank passes through untouched
 * (`rerank: false` with the reason): aggregations only (size 0), sorts, scroll, search_after, pagination, `_source:
 * false`, no query text, retrievers other than `standard`. A malformed `rerank` section is a ValidationError.
 */
export function planProxySearch(
  body: Buffer,
  query: URLSearchParams,
  passage: ResolvedSourceOptions,
): ProxySearchDecision {
  const blocked = querystringBlocker(query);
  if (blocked) return { rerank: false, why: blocked };
  const parsed = parseBody(body);
  if (typeof parsed === 'string') return { rerank: false, why: parsed };
  const { rerank: rawSection, ...request } = parsed;
  const section = rawSection === undefined ? {} : readRerankSection(rawSection);
  const options = section.textFields ? resolveSourceOptions({ ...passage, textFields: section.textFields }) : passage;
  const why = bodyBlocker(request, options.textFields);
  if (why) return { rerank: false, why };
  let dslQuery = request['query'];
  if (request['retriever'] !== undefined) {
    const retriever = readRetriever(request['retriever']);
    if ('why' in retriever) return { rerank: false, why: retriever.why };
    dslQuery = retriever.query;
  }
  const text = section.query ?? extractQueryText(dslQuery) ?? query.get('q') ?? undefined;
  if (!text || text.trim() === '') return { rerank: false, why: 'no query text' };
  const size =
    typeof request['size'] === 'number' ? request['size'] : query.has('size') ? Number(query.get('size')) : undefined;
  if (section.window !== undefined && section.window > (size ?? 10)) request['size'] = section.window;
  const forwardBody = rawSection === undefined ? body : Buffer.from(JSON.stringify(request), 'utf8');
  const plan: ProxySearchPlan = { query: text, fusion: section.fusion ?? 'tasb', passage: options, forwardBody };
  if (section.window !== undefined) plan.size = size ?? 10;
  return { rerank: true, plan };
}
