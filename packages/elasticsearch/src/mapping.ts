import type { estypes } from '@elastic/elasticsearch';
import { ValidationError } from '@dotrank/core';
import { asResolved, parseBoostedField } from './options.js';
import type { ElasticsearchSourceOptions, ResolvedSourceOptions } from './options.js';

/** Name of the custom similarity the created index uses on its text fields. */
export const SIMILARITY_NAME = 'dotrank_bm25';

export interface EnsureIndexOptions {
  /** BM25 term-frequency saturation (default 1.2, Lucene's and Elasticsearch's default). */
  k1?: number;
  /** BM25 length normalisation, 0..1 (default 0.75). */
  b?: number;
  /** Primary shards (default 1: one shard keeps BM25 statistics global, as in Lucene runs). */
  shards?: number;
  /** Replicas (default: the cluster's default). */
  replicas?: number;
}

export interface IndexDefinition {
  settings: estypes.IndicesIndexSettings;
  mappings: estypes.MappingTypeMapping;
}

export function resolveBm25(options: EnsureIndexOptions = {}): { k1: number; b: number } {
  const k1 = options.k1 ?? 1.2;
  const b = options.b ?? 0.75;
  if (typeof k1 !== 'number' || !Number.isFinite(k1) || k1 < 0)
    throw new ValidationError('k1', `must be a finite number >= 0 (got ${String(k1)})`);
  if (typeof b !== 'number' || !Number.isFinite(b) || b < 0 || b > 1)
    throw new ValidationError('b', `must be a number from 0 to 1 (got ${String(b)})`);
  return { k1, b };
}

/** Text fields the index maps: the searched fields and the assembled text fields. */
export function mappedTextFields(options: ElasticsearchSourceOptions | ResolvedSourceOptions = {}): string[] {
  const o = asResolved(options);
  return [...new Set([...o.searchFields.map((f) => parseBoostedField(f).field), ...o.textFields])];
}

/**
 * The create-index body: a custom BM25 similarity with explicit k1/b, the standard analyzer as the default,
 * `text` fields with that similarity for every searched/assembled field, the id field as `keyword`, and the
 * metadata object whose string values map to `keyword` (so `SearchFilter` equality is exact).
 */
export function buildIndexDefinition(
  ensure: EnsureIndexOptions = {},
  sourceOptions: ElasticsearchSourceOptions | ResolvedSourceOptions = {},
): IndexDefinition {
  const o = asResolved(sourceOptions);
  const { k1, b } = resolveBm25(ensure);
  const shards = ensure.shards ?? 1;
  if (!Number.isInteger(shards) || shards < 1)
    throw new ValidationError('shards', `must be an integer >= 1 (got ${String(shards)})`);
  if (ensure.replicas !== undefined && (!Number.isInteger(ensure.replicas) || ensure.replicas < 0)) {
    throw new ValidationError('replicas', `must be an integer >= 0 (got ${String(ensure.replicas)})`);
  }
  const properties: Record<string, estypes.MappingProperty> = {};
  properties[o.idField === '_id' ? 'id' : o.idField] = { type: 'keyword' };
  for (const field of mappedTextFields(o)) {
    properties[field] = { type: 'text', analyzer: 'standard', similarity: SIMILARITY_NAME };
  }
  for (const field of o.metadataFields) properties[field] ??= { type: 'keyword' };
  const mappings: estypes.MappingTypeMapping = { properties };
  if (o.metadataField) {
    properties[o.metadataField] = { type: 'object', dynamic: true };
    mappings.dynamic_templates = [
      {
        dotrank_metadata_strings: {
          path_match: `${o.metadataField}.*`,
          match_mapping_type: 'string',
          mapping: { type: 'keyword' },
        },
      },
    ];
  }
  const settings: estypes.IndicesIndexSettings = {
    number_of_shards: shards,
    ...(ensure.replicas !== undefined ? { number_of_replicas: ensure.replicas } : {}),
    similarity: { [SIMILARITY_NAME]: { type: 'BM25', k1, b } },
    analysis: { analyzer: { default: { type: 'standard' } } },
  };
  return { settings, mappings };
}
