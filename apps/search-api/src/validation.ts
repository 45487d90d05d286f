import { FUSION_MODES, ValidationError } from '@dotrank/core';
import type { FusionMode, Scalar, SearchFilter } from '@dotrank/core';

export const MAX_QUERY_BYTES = 10 * 1024;
export const MAX_K = 1000;

/** A validated `/search` request. */
export interface SearchParams {
  q: string;
  k: number;
  candidates: number;
  fusion: FusionMode;
  alpha?: number;
  filter?: SearchFilter;
  deadlineMs?: number;
}

export interface SearchLimits {
  maxCandidates: number;
  maxDeadlineMs: number;
}

type Raw = Record<string, unknown>;

const KNOWN_FIELDS = new Set(['q', 'k', 'candidates', 'fusion', 'alpha', 'filter', 'deadlineMs']);

/**
 * Numbers arrive as strings in a query string and as numbers in JSON. `fromQueryString` decides which form is
 * accepted: a JSON body with `"k": "10"` is a wrong type, `?k=10` is fine.
 */
function integer(raw: Raw, field: string, fromQueryString: boolean): number | undefined {
  const value = raw[field];
  if (value === undefined) return undefined;
  let n: number;
  if (typeof value === 'number') n = value;
  else if (fromQueryString && typeof value === 'string' && /^-?\d+$/.test(value.trim())) n = Number(value.trim());
  else throw new ValidationError(field, `must be an integer (got ${JSON.stringify(value)})`);
  if (!Number.isSafeInteger(n)) throw new ValidationError(field, `must be an integer (got ${JSON.stringify(value)})`);
  return n;
}

function finite(raw: Raw, field: string, fromQueryString: boolean): number | undefined {
  const value = raw[field];
  if (value === undefined) return undefined;
  let n = Number.NaN;
  if (typeof value === 'number') n = value;
  else if (fromQueryString && typeof value === 'string' && value.trim() !== '') n = Number(value.trim());
  if (!Number.isFinite(n)) throw new ValidationError(field, `must be a number (got ${JSON.stringify(value)})`);
  return n;
}

function parseFilter(value: unknown): SearchFilter | undefined {
  if (value === undefined) return undefined;
  let parsed = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch {
      throw new ValidationError('filter', 'must be a JSON object of field: value (query string: URL-encoded JSON)');
    }
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ValidationError('filter', 'must be an object of field: value');
  }
  const filter: SearchFilter = {};
  const isScalar = (v: unknown): v is Scalar => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
  for (const [key, wanted] of Object.entries(parsed as Record<string, unknown>)) {
    if (isScalar(wanted)) filter[key] = wanted;
    else if (Array.isArray(wanted) && wanted.length > 0 && wanted.every(isScalar)) filter[key] = wanted;
    else throw new ValidationError(`filter.${key}`, 'must be a string, number, boolean or a non-empty array of them');
  }
  return filter;
}

/** Validates `/search` input (query string or JSON body); every problem is a ValidationError naming the field. */
export function parseSearchParams(input: unknown, fromQueryString: boolean, limits: SearchLimits): SearchParams {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new ValidationError('body', 'must be a JSON object');
  }
  const raw = input as Raw;
  for (const key of Object.keys(raw)) {
    if (!KNOWN_FIELDS.has(key)) throw new ValidationError(key, `unknown field (known: ${[...KNOWN_FIELDS].join(', ')})`);
  }
  const q = raw['q'];
  if (q === undefined) throw new ValidationError('q', 'is required');
  if (typeof q !== 'string') throw new ValidationError('q', `must be a string (got ${typeof q})`);
  if (q.trim() === '') throw new ValidationError('q', 'must not be empty');
  if (Buffer.byteLength(q, 'utf8') > MAX_QUERY_BYTES) {
    throw new ValidationError('q', `must be at most ${MAX_QUERY_BYTES} bytes (got ${Buffer.byteLength(q, 'utf8')})`);
  }

  const k = integer(raw, 'k', fromQueryString) ?? 10;
  if (k < 1 || k > MAX_K) throw new ValidationError('k', `must be between 1 and ${MAX_K} (got ${k})`);

  const maxCandidates = Math.min(limits.maxCandidates, 1000);
  const candidates = integer(raw, 'candidates', fromQueryString) ?? Math.min(Math.max(100, k), maxCandidates);
  if (candidates > maxCandidates) {
    throw new ValidationError('candidates', `must be at most ${maxCandidates} (got ${candidates})`);
  }
  if (candidates < k) throw new ValidationError('candidates', `must be >= k (${k}) (got ${candidates})`);

  const fusionRaw = raw['fusion'] ?? 'tasb';
  if (typeof fusionRaw !== 'string' || !(FUSION_MODES as readonly string[]).includes(fusionRaw)) {
    throw new ValidationError('fusion', `must be one of ${FUSION_MODES.join(', ')} (got ${JSON.stringify(fusionRaw)})`);
  }
  const fusion = fusionRaw as FusionMode;

  const alpha = finite(raw, 'alpha', fromQueryString);
  if (alpha !== undefined && (alpha < 0 || alpha > 1)) throw new ValidationError('alpha', `must be between 0 and 1 (got ${alpha})`);

  const deadlineMs = integer(raw, 'deadlineMs', fromQueryString);
  if (deadlineMs !== undefined && (deadlineMs < 1 || deadlineMs > limits.maxDeadlineMs)) {
    throw new ValidationError('deadlineMs', `must be between 1 and ${limits.maxDeadlineMs} (got ${deadlineMs})`);
  }

  const filter = parseFilter(raw['filter']);
  return {
    q,
    k,
    candidates,
    fusion,
    ...(alpha !== undefined ? { alpha } : {}),
    ...(filter ? { filter } : {}),
    ...(deadlineMs !== undefined ? { deadlineMs } : {}),
  };
}
