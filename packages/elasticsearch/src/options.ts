import type { Client, ClientOptions, estypes } from '@elastic/elasticsearch';
import { ValidationError } from '@dotrank/core';

/** A raw Elasticsearch query clause (for `filter`). */
export type EsQueryClause = estypes.QueryDslQueryContainer;

/** How the bulk ingest batches and retries. */
export interface BulkOptions {
  /** Most documents in one `_bulk` request (default 500; `IndexOptions.batchSize` overrides it per call). */
  maxDocs?: number;
  /** Most bytes of NDJSON in one `_bulk` request (default 5 MiB; a single larger document is sent alone). */
  maxBytes?: number;
  /** Retries of a whole request answered 429/5xx, and of items answered 429 (default 5). */
  maxRetries?: number;
  /** First backoff in ms; doubles each retry, with full jitter (default 200). */
  initialBackoffMs?: number;
  /** Backoff ceiling in ms (default 10000). */
  maxBackoffMs?: number;
  /** Refresh the index when the ingest ends, so the documents are searchable at once (default true). */
  refresh?: boolean;
}

/** Where a source finds its documents inside an index, and how it searches them. */
export interface ElasticsearchSourceOptions {
  /** Index (or alias) to search and write; default `config.ELASTICSEARCH_INDEX`. */
  index?: string;
  /** Field holding the passage id, or `_id` (default) for the document id. */
  idField?: string;
  /**
   * Fields the query runs on, with optional `^boost` (default `['title', 'text']`). One field without a boost
   * gives a `match` query, anything else a `multi_match`.
   */
  searchFields?: string[];
  /** `multi_match` type (default `best_fields`). */
  multiMatchType?: 'best_fields' | 'most_fields' | 'cross_fields';
  /** Boolean operator between query terms (default `or`). */
  operator?: 'or' | 'and';
  /** `_source` fields joined, in order, into the passage text (default `['title', 'text']`); missing ones are left out. */
  textFields?: string[];
  /** Separator between the text fields (default one space, the BEIR convention). */
  textSeparator?: string;
  /**
   * Object field holding the passage metadata (default `metadata`): `SearchFilter` keys are looked up as
   * `<metadataField>.<key>`. `null` for an index whose filterable fields are at the top level.
   */
  metadataField?: string | null;
  /** Further top-level `_source` fields returned as candidate metadata (default none). */
  metadataFields?: string[];
  /**
   * The fields a `SearchFilter` may name, as they are written in the index (dotted paths allowed): an allow-list
   * (a filter on any other key is refused, naming the key), read from `_source` as candidate metadata under the same
   * names. Setting them turns the `metadataField` lookup off unless `metadataField` is given too.
   */
  filterFields?: string[];
  /** A raw filter clause (or clauses) always added to `bool.filter`, e.g. `{ term: { lang: 'en' } }`. */
  filter?: EsQueryClause | EsQueryClause[];
  /** Create the index (with `ensureIndex` defaults) on the first `index()` call when it is missing (default true). */
  autoCreateIndex?: boolean;
  /** Bulk batching and retries. */
  bulk?: BulkOptions;
  /** Use this client instead of one from the config (the source will not close it). */
  client?: Client;
  /** 8 (default) for Elasticsearch 8.x/9.x, 7 for 7.14-7.17 (plain JSON media types). */
  compatibility?: 7 | 8;
  /** Extra options for the client built from the config (e.g. `Connection` of @elastic/elasticsearch-mock). */
  clientOptions?: Partial<ClientOptions>;
}

export interface ResolvedSourceOptions {
  index: string;
  idField: string;
  searchFields: string[];
  multiMatchType: 'best_fields' | 'most_fields' | 'cross_fields';
  operator: 'or' | 'and';
  textFields: string[];
  textSeparator: string;
  metadataField: string | null;
  metadataFields: string[];
  /** The `SearchFilter` allow-list, when configured (also part of `metadataFields`). */
  filterFields?: string[];
  filter: EsQueryClause[];
  autoCreateIndex: boolean;
  bulk: Required<BulkOptions>;
}

export const DEFAULT_BULK: Required<BulkOptions> = {
  maxDocs: 500,
  maxBytes: 5 * 1024 * 1024,
  maxRetries: 5,
  initialBackoffMs: 200,
  maxBackoffMs: 10_000,
  refresh: true,
};

const RESOLVED = new WeakSet<object>();

const FIELD_WITH_BOOST = /^([^\s^]+)(?:\^(\d+(?:\.\d+)?))?$/;

/** Splits `title^2` into its field and boost (1 when absent). */
export function parseBoostedField(spec: string): { field: string; boost: number } {
  const m = FIELD_WITH_BOOST.exec(spec.trim());
  if (!m)
    throw new ValidationError('searchFields', `"${spec}" is not a field name with an optional ^boost (e.g. "title^2")`);
  return { field: m[1]!, boost: m[2] === undefined ? 1 : Number(m[2]) };
}

function nonEmptyList(field: string, value: string[] | undefined, fallback: string[]): string[] {
  if (value === undefined) return fallback;
  if (!Array.isArray(value) || value.length === 0) throw new ValidationError(field, 'must list at least one field');
  for (const v of value) {
    if (typeof v !== 'string' || v.trim() === '') throw new ValidationError(field, `contains an empty field name`);
  }
  return value.map((v) => v.trim());
}

function positiveInt(field: string, value: number | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min)
    throw new ValidationError(field, `must be an integer >= ${min} (got ${value})`);
  return value;
}

/** Fills in defaults and checks every option; errors name the option. */
export function resolveSourceOptions(
  options: ElasticsearchSourceOptions = {},
  defaultIndex = 'dotrank',
): ResolvedSourceOptions {
  const index = options.index ?? defaultIndex;
  if (typeof index !== 'string' || index.trim() === '')
    throw new ValidationError('index', 'must be a non-empty index name');
  const idField = options.idField ?? '_id';
  if (typeof idField !== 'string' || idField.trim() === '')
    throw new ValidationError('idField', 'must be a field name or "_id"');
  const searchFields = nonEmptyList('searchFields', options.searchFields, ['title', 'text']);
  searchFields.forEach(parseBoostedField);
  const textFields = nonEmptyList('textFields', options.textFields, ['title', 'text']);
  const filterFields =
    options.filterFields === undefined ? undefined : nonEmptyList('filterFields', options.filterFields, []);
  const metadataField =
    options.metadataField === undefined ? (filterFields ? null : 'metadata') : options.metadataField;
  if (metadataField !== null && (typeof metadataField !== 'string' || metadataField.trim() === '')) {
    throw new ValidationError('metadataField', 'must be a field name or null');
  }
  const givenMetadataFields = options.metadataFields ?? [];
  if (
    !Array.isArray(givenMetadataFields) ||
    givenMetadataFields.some((f) => typeof f !== 'string' || f.trim() === '')
  ) {
    throw new ValidationError('metadataFields', 'must be a list of field names');
  }
  const metadataFields = [...new Set([...givenMetadataFields, ...(filterFields ?? [])])];
  const textSeparator = options.textSeparator ?? ' ';
  if (typeof textSeparator !== 'string') throw new ValidationError('textSeparator', 'must be a string');
  const multiMatchType = options.multiMatchType ?? 'best_fields';
  if (!['best_fields', 'most_fields', 'cross_fields'].includes(multiMatchType)) {
    throw new ValidationError(
      'multiMatchType',
      `must be best_fields, most_fields or cross_fields (got ${String(multiMatchType)})`,
    );
  }
  const operator = options.operator ?? 'or';
  if (operator !== 'or' && operator !== 'and')
    throw new ValidationError('operator', `must be "or" or "and" (got ${String(operator)})`);
  const filter = options.filter === undefined ? [] : Array.isArray(options.filter) ? options.filter : [options.filter];
  for (const clause of filter) {
    if (clause === null || typeof clause !== 'object' || Object.keys(clause).length === 0) {
      throw new ValidationError('filter', 'each raw filter clause must be a non-empty Elasticsearch query object');
    }
  }
  const b = options.bulk ?? {};
  const bulk: Required<BulkOptions> = {
    maxDocs: positiveInt('bulk.maxDocs', b.maxDocs, DEFAULT_BULK.maxDocs),
    maxBytes: positiveInt('bulk.maxBytes', b.maxBytes, DEFAULT_BULK.maxBytes),
    maxRetries: positiveInt('bulk.maxRetries', b.maxRetries, DEFAULT_BULK.maxRetries, 0),
    initialBackoffMs: positiveInt('bulk.initialBackoffMs', b.initialBackoffMs, DEFAULT_BULK.initialBackoffMs, 0),
    maxBackoffMs: positiveInt('bulk.maxBackoffMs', b.maxBackoffMs, DEFAULT_BULK.maxBackoffMs, 0),
    refresh: b.refresh ?? DEFAULT_BULK.refresh,
  };
  const resolved: ResolvedSourceOptions = {
    index: index.trim(),
    idField: idField.trim(),
    searchFields,
    multiMatchType,
    operator,
    textFields,
    textSeparator,
    metadataField: metadataField === null ? null : metadataField.trim(),
    metadataFields,
    ...(filterFields ? { filterFields } : {}),
    filter,
    autoCreateIndex: options.autoCreateIndex ?? true,
    bulk,
  };
  RESOLVED.add(resolved);
  return resolved;
}

/** Accepts resolved or raw options (the pure helpers are called with either). */
export function asResolved(
  options: ElasticsearchSourceOptions | ResolvedSourceOptions | undefined,
): ResolvedSourceOptions {
  if (options && RESOLVED.has(options as object)) return options as ResolvedSourceOptions;
  return resolveSourceOptions(options as ElasticsearchSourceOptions | undefined);
}
