import type { estypes } from '@elastic/elasticsearch';
import { ValidationError, validateK } from '@dotrank/core';
import type { Passage, Scalar, SearchFilter, SearchOptions } from '@dotrank/core';
import { asResolved, parseBoostedField } from './options.js';
import type { ElasticsearchSourceOptions, ResolvedSourceOptions } from './options.js';

/** The search request body (without `index`) dotrank sends: the query, the filters, only the fields it needs. */
export interface SearchBody {
  size: number;
  track_total_hits: false;
  _source: { includes: string[] };
  query: estypes.QueryDslQueryContainer;
}

/** Checks a query string and k the way every source does; errors name the field. */
export function validateSearch(
  query: unknown,
  options: Pick<SearchOptions, 'k'> | undefined,
): { query: string; k: number } {
  if (typeof query !== 'string' || query.trim() === '')
    throw new ValidationError('query', 'must be a non-empty string');
  return { query, k: validateK(options?.k) };
}

function isScalar(v: unknown): v is Scalar {
  return typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v)) || typeof v === 'boolean';
}

/**
 * `SearchFilter` -> `term` / `terms` clauses: on the key itself when `filterFields` are configured (and only on those
 * keys), else on `<metadataField>.<key>` (or `<key>` when metadataField is null).
 */
export function filterClauses(
  filter: SearchFilter | undefined,
  options: ElasticsearchSourceOptions | ResolvedSourceOptions = {},
): estypes.QueryDslQueryContainer[] {
  if (!filter) return [];
  if (typeof filter !== 'object' || Array.isArray(filter))
    throw new ValidationError('filter', 'must be an object of field -> value or list of values');
  const o = asResolved(options);
  const clauses: estypes.QueryDslQueryContainer[] = [];
  for (const [key, wanted] of Object.entries(filter)) {
    if (key.trim() === '') throw new ValidationError('filter', 'has an empty field name');
    if (o.filterFields && !o.filterFields.includes(key)) {
      throw new ValidationError(
        `filter.${key}`,
        `is not a filter field of index ${o.index}; filters may use ${o.filterFields.join(', ')} (ELASTICSEARCH_FILTER_FIELDS)`,
      );
    }
    const field = o.filterFields ? key : o.metadataField ? `${o.metadataField}.${key}` : key;
    if (Array.isArray(wanted)) {
      if (!wanted.every(isScalar))
        throw new ValidationError(`filter.${key}`, 'values must be strings, finite numbers or booleans');
      clauses.push({ terms: { [field]: wanted } });
    } else {
      if (!isScalar(wanted))
        throw new ValidationError(`filter.${key}`, 'must be a string, a finite number, a boolean or a list of them');
      clauses.push({ term: { [field]: wanted } });
    }
  }
  return clauses;
}

/** `_source` fields a hit needs: the text fields, the id field, the metadata. */
export function sourceIncludes(options: ElasticsearchSourceOptions | ResolvedSourceOptions = {}): string[] {
  const o = asResolved(options);
  const fields = [...o.textFields];
  if (o.idField !== '_id') fields.push(o.idField);
  if (o.metadataField) fields.push(o.metadataField);
  fields.push(...o.metadataFields);
  return [...new Set(fields)];
}

/**
 * The body of the search dotrank sends for a query (pure; the rerank proxy and tests use it too):
 * `match` on one unboosted field, else `multi_match` with boosts; `SearchFilter` and the source's raw filter
 * in `bool.filter`; `_source.includes` limited to what `passageFromHit` reads; `track_total_hits: false`.
 */
export function buildSearchBody(
  query: string,
  options: SearchOptions,
  sourceOptions: ElasticsearchSourceOptions | ResolvedSourceOptions = {},
): SearchBody {
  const { k } = validateSearch(query, options);
  const o = asResolved(sourceOptions);
  const fields = o.searchFields.map(parseBoostedField);
  let textQuery: estypes.QueryDslQueryContainer;
  if (fields.length === 1 && fields[0]!.boost === 1) {
    textQuery = { match: { [fields[0]!.field]: { query, operator: o.operator } } };
  } else {
    textQuery = { multi_match: { query, fields: [...o.searchFields], type: o.multiMatchType, operator: o.operator } };
  }
  const filters = [...filterClauses(options.filter, o), ...o.filter];
  return {
    size: k,
    track_total_hits: false,
    _source: { includes: sourceIncludes(o) },
    query: filters.length === 0 ? textQuery : { bool: { must: [textQuery], filter: filters } },
  };
}

/**
 * A `_source` value by field name: a flat `a.b` key first, else the nested path. Through an array of objects the
 * values of every element are collected (`sections.text` of `{sections: [{text}, {text}]}` is both texts), as
 * Elasticsearch indexes them.
 */
export function getField(source: unknown, path: string): unknown {
  if (Array.isArray(source)) {
    const values = source.map((item) => getField(item, path)).filter((v) => v !== undefined);
    return values.length === 0 ? undefined : values;
  }
  if (!source || typeof source !== 'object') return undefined;
  const record = source as Record<string, unknown>;
  if (path in record) return record[path];
  const dot = path.indexOf('.');
  if (dot < 0) return undefined;
  // Try every split point, so `a.b.c` finds {a: {b.c}} as well as {a: {b: {c}}}.
  for (let i = dot; i >= 0; i = path.indexOf('.', i + 1)) {
    const head = path.slice(0, i);
    if (head in record) {
      const found = getField(record[head], path.slice(i + 1));
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

function textOf(value: unknown, separator: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) {
    const parts = value.map((v) => textOf(v, separator)).filter((v): v is string => v !== undefined && v !== '');
    return parts.length ? parts.join(separator) : undefined;
  }
  return undefined;
}

/** The hit fields `passageFromHit` reads. */
export interface SearchHitLike {
  _id?: string | null;
  _source?: unknown;
}

/**
 * The passage a search hit stands for, the one function that turns a hit into a passage (the source, the proxy and
 * warming all call it, so a document has one text and one cache key wherever it comes from): id from `idField` (or
 * `_id`), text from `textFields` (dotted paths into objects and arrays of objects; array values joined) joined by
 * `textSeparator` (missing or empty fields left out), metadata from `metadataField` and `metadataFields` (scalar
 * values only).
 */
export function passageFromHit(
  hit: SearchHitLike,
  sourceOptions: ElasticsearchSourceOptions | ResolvedSourceOptions = {},
): Passage {
  const o = asResolved(sourceOptions);
  const source = hit._source ?? {};
  let id: string | undefined;
  if (o.idField !== '_id') {
    const value = getField(source, o.idField);
    if (typeof value === 'string' || typeof value === 'number') id = String(value);
  }
  id ??= hit._id ?? undefined;
  if (id === undefined) throw new ValidationError(o.idField, 'the hit has neither this field nor an _id');
  const parts: string[] = [];
  for (const field of o.textFields) {
    const text = textOf(getField(source, field), o.textSeparator);
    if (text !== undefined && text !== '') parts.push(text);
  }
  const passage: Passage = { id, text: parts.join(o.textSeparator) };
  const metadata: Record<string, Scalar> = {};
  if (o.metadataField) {
    const object = getField(source, o.metadataField);
    if (object && typeof object === 'object' && !Array.isArray(object)) {
      for (const [key, value] of Object.entries(object as Record<string, unknown>))
        if (isScalar(value)) metadata[key] = value;
    }
  }
  for (const field of o.metadataFields) {
    const value = getField(source, field);
    if (isScalar(value)) metadata[field] = value;
  }
  if (Object.keys(metadata).length > 0) passage.metadata = metadata;
  return passage;
}
