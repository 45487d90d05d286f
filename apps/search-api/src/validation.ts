// `/search` input: the route schemas (which Fastify validates and /docs shows) and the few checks a JSON schema
// cannot express (UTF-8 byte length, one field against another, the URL-encoded JSON of a query-string filter).
import { FUSION_MODES, MAX_QUERY_BYTES, ValidationError } from '@dotrank/core';
import type { FusionMode, SearchFilter } from '@dotrank/core';
import { MESSAGE_KEYWORD, compileJsonValidator } from './validator.js';

/** The most results (`k`) and first-stage candidates one `/search` asks for: the API's own limit. */
export const MAX_RESULTS = 1000;

/** A validated `/search` request. */
export interface SearchParams {
  q: string;
  k: number;
  candidates: number;
  fusion: FusionMode;
  alpha?: number;
  filter?: SearchFilter;
  deadlineMs?: number;
  /** Online experiment for this request (#19): overrides DOTRANK_EXPERIMENT. */
  experiment?: 'off' | 'shadow' | 'interleave';
}

export interface SearchLimits {
  maxCandidates: number;
  maxDeadlineMs: number;
}

/** What the schema lets through (defaults applied), before the checks below. */
interface SchemaChecked {
  q: string;
  k: number;
  candidates?: number;
  fusion: FusionMode;
  alpha?: number;
  filter?: unknown;
  deadlineMs?: number;
  experiment?: 'off' | 'shadow' | 'interleave';
}

const SCALAR = { anyOf: [{ type: 'string' }, { type: 'number' }, { type: 'boolean' }] };

/** `{field: value | [values]}`: the equality filter, in a JSON body and (URL-encoded) in a query string. */
const FILTER_SCHEMA = {
  type: 'object',
  description: 'Equality filter: {"field": value | [values]}',
  additionalProperties: {
    [MESSAGE_KEYWORD]: 'must be a string, number, boolean or a non-empty array of them',
    anyOf: [SCALAR, { type: 'array', minItems: 1, items: SCALAR }],
  },
};

const checkQueryStringFilter = compileJsonValidator(FILTER_SCHEMA, 'filter');

/** The `/search` fields; `filter` differs by where the input comes from. */
function searchProperties(limits: SearchLimits, filter: object): Record<string, object> {
  const maxCandidates = Math.min(limits.maxCandidates, MAX_RESULTS);
  return {
    q: {
      type: 'string',
      maxLength: MAX_QUERY_BYTES,
      // at least one character that is neither whitespace nor a control/format character (`\u0000`, U+200B)
      pattern: '[^\\s\\p{Cc}\\p{Cf}]',
      [MESSAGE_KEYWORD]: 'must contain a visible character (not only whitespace or control characters)',
      description: `Query text, at most ${MAX_QUERY_BYTES} bytes of UTF-8`,
    },
    k: { type: 'integer', minimum: 1, maximum: MAX_RESULTS, default: 10, description: 'Number of results' },
    candidates: {
      type: 'integer',
      minimum: 1,
      maximum: maxCandidates,
      description: 'First-stage depth (>= k); default max(100, k)',
    },
    fusion: { type: 'string', enum: [...FUSION_MODES], default: 'tasb', description: 'How the final score is made' },
    alpha: { type: 'number', minimum: 0, maximum: 1, description: 'Interpolation weight (fusion=interpolate)' },
    deadlineMs: { type: 'integer', minimum: 1, maximum: limits.maxDeadlineMs, description: 'Rerank deadline override' },
    experiment: {
      type: 'string',
      enum: ['off', 'shadow', 'interleave'],
      description: 'Online experiment for this request (default DOTRANK_EXPERIMENT): shadow or interleave',
    },
    filter,
  };
}

/** The schema of `GET /search`'s query string. */
export function searchQuerySchema(limits: SearchLimits): object {
  const filter = { type: 'string', description: 'URL-encoded JSON equality map {"field": value | [values]}' };
  return { type: 'object', required: ['q'], additionalProperties: false, properties: searchProperties(limits, filter) };
}

/** The schema of `POST /search`'s JSON body. */
export function searchBodySchema(limits: SearchLimits): object {
  return {
    type: 'object',
    required: ['q'],
    additionalProperties: false,
    properties: searchProperties(limits, FILTER_SCHEMA),
  };
}

function queryStringFilter(text: string): SearchFilter {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ValidationError('filter', 'must be a JSON object of field: value (query string: URL-encoded JSON)');
  }
  checkQueryStringFilter(parsed);
  return parsed as SearchFilter;
}

/** Completes input the route schema has accepted: byte length, defaults that depend on `k`, `candidates >= k`. */
export function searchParamsFrom(input: unknown, fromQueryString: boolean, limits: SearchLimits): SearchParams {
  const raw = input as SchemaChecked;
  const bytes = Buffer.byteLength(raw.q, 'utf8');
  if (bytes > MAX_QUERY_BYTES)
    throw new ValidationError('q', `must be at most ${MAX_QUERY_BYTES} bytes of UTF-8 (got ${bytes})`);
  const maxCandidates = Math.min(limits.maxCandidates, MAX_RESULTS);
  const candidates = raw.candidates ?? Math.min(Math.max(100, raw.k), maxCandidates);
  if (candidates < raw.k) throw new ValidationError('candidates', `must be >= k (${raw.k}) (got ${candidates})`);
  const filter =
    raw.filter === undefined
      ? undefined
      : fromQueryString
        ? queryStringFilter(raw.filter as string)
        : (raw.filter as SearchFilter);
  return {
    q: raw.q,
    k: raw.k,
    candidates,
    fusion: raw.fusion,
    ...(raw.alpha !== undefined ? { alpha: raw.alpha } : {}),
    ...(filter ? { filter } : {}),
    ...(raw.deadlineMs !== undefined ? { deadlineMs: raw.deadlineMs } : {}),
    ...(raw.experiment !== undefined ? { experiment: raw.experiment } : {}),
  };
}
