import type { Client, estypes } from '@elastic/elasticsearch';
import { ConfigError, ValidationError } from '@dotrank/core';
import type {
  Candidate,
  CandidateSource,
  DenseEncoder,
  DotrankConfig,
  IndexFailure,
  IndexOptions,
  IndexReport,
  Passage,
  SearchOptions,
} from '@dotrank/core';
import { checkPassage, documentFor, sendBatch } from './bulk.js';
import type { BulkContext, BulkEntry } from './bulk.js';
import { authKindOf } from './client.js';
import { translateError } from './errors.js';
import { buildIndexDefinition } from './mapping.js';
import type { EnsureIndexOptions } from './mapping.js';
import { asResolved } from './options.js';
import type { ElasticsearchSourceOptions, ResolvedSourceOptions } from './options.js';
import { filterClauses, passageFromHit, sourceIncludes, validateSearch } from './query.js';
import { ElasticsearchSource } from './source.js';
import type { EnsureIndexResult } from './source.js';

/**
 * How passage vectors are stored and searched.
 * - `knn` (Elasticsearch >= 8.11): an indexed `dense_vector` with `similarity: max_inner_product` (TAS-B vectors are
 *   not unit length, so `dot_product` - which requires unit vectors - does not fit), searched with the `knn` option
 *   (HNSW inside Elasticsearch).
 * - `script_score` (older clusters, or exact scoring): the raw vector stored unindexed (`index: false`) and every
 *   matching document scored with `dotProduct` in a `script_score` query (brute force).
 */
export type DenseMode = 'knn' | 'script_score';

export const DEFAULT_VECTOR_FIELD = 'vector';

/**
 * Scores of both modes are the inner product mapped to a positive number the way Elasticsearch maps
 * `max_inner_product` (script scores must not be negative): s < 0 ? 1 / (1 - s) : s + 1. Monotone, so order is kept.
 */
export const SCRIPT_SOURCE =
  'double s = dotProduct(params.query_vector, params.field); return s < 0 ? 1.0 / (1.0 - s) : s + 1.0;';

/** The inner product back from an Elasticsearch `_score` of either mode. */
export function innerProductFromScore(score: number): number {
  return score >= 1 ? score - 1 : 1 - 1 / score;
}

/** True when an Elasticsearch version supports `max_inner_product` (8.11 and later). */
export function supportsMaxInnerProduct(version: string): boolean {
  const m = /^(\d+)\.(\d+)/.exec(version);
  if (!m) return false;
  const major = Number(m[1]);
  const minor = Number(m[2]);
  return major > 8 || (major === 8 && minor >= 11);
}

/** `knn` when the cluster is 8.11+, else `script_score` (asks the cluster its version). */
export async function detectDenseMode(client: Client): Promise<DenseMode> {
  try {
    const info = await client.info();
    return supportsMaxInnerProduct(info.version.number) ? 'knn' : 'script_score';
  } catch (error) {
    throw translateError(error, { action: 'read cluster version', index: '-', auth: 'none' });
  }
}

/** The `dense_vector` mapping of the vector field. */
export function denseVectorMapping(dims: number, mode: DenseMode = 'knn'): estypes.MappingDenseVectorProperty {
  if (!Number.isInteger(dims) || dims < 1 || dims > 4096)
    throw new ValidationError('dims', `must be an integer from 1 to 4096 (got ${dims})`);
  if (mode === 'knn') return { type: 'dense_vector', dims, index: true, similarity: 'max_inner_product' };
  if (mode === 'script_score') return { type: 'dense_vector', dims, index: false };
  throw new ValidationError('denseMode', `must be "knn" or "script_score" (got ${String(mode)})`);
}

/** The create-index body of `buildIndexDefinition` plus the vector field. */
export function buildDenseIndexDefinition(
  dims: number,
  options: { denseMode?: DenseMode; vectorField?: string; ensure?: EnsureIndexOptions } = {},
  sourceOptions: ElasticsearchSourceOptions | ResolvedSourceOptions = {},
): { settings: estypes.IndicesIndexSettings; mappings: estypes.MappingTypeMapping } {
  const definition = buildIndexDefinition(options.ensure ?? {}, sourceOptions);
  const field = options.vectorField ?? DEFAULT_VECTOR_FIELD;
  definition.mappings.properties = {
    ...definition.mappings.properties,
    [field]: denseVectorMapping(dims, options.denseMode),
  };
  return definition;
}

export interface DenseSearchBodyOptions {
  k: number;
  filter?: SearchOptions['filter'];
  /** Candidates per shard the knn search considers (default max(k, min(10000, 2k, 100))). */
  numCandidates?: number;
  vectorField?: string;
}

function numCandidatesFor(k: number, wanted: number | undefined): number {
  const n = wanted ?? Math.min(10_000, Math.max(100, 2 * k));
  if (!Number.isInteger(n) || n < k || n > 10_000)
    throw new ValidationError('numCandidates', `must be an integer from k (${k}) to 10000 (got ${n})`);
  return n;
}

/** The `_search` body of a knn query (pure; without `index`). Filters go inside `knn.filter` (pre-filtering). */
export function buildKnnBody(
  vector: Float32Array | number[],
  options: DenseSearchBodyOptions,
  sourceOptions: ElasticsearchSourceOptions | ResolvedSourceOptions = {},
) {
  const o = asResolved(sourceOptions);
  const k = options.k;
  const filters = [...filterClauses(options.filter, o), ...o.filter];
  return {
    size: k,
    track_total_hits: false as const,
    _source: { includes: sourceIncludes(o) },
    knn: {
      field: options.vectorField ?? DEFAULT_VECTOR_FIELD,
      query_vector: Array.from(vector),
      k,
      num_candidates: numCandidatesFor(k, options.numCandidates),
      ...(filters.length > 0 ? { filter: filters } : {}),
    },
  };
}

/** The `_search` body of an exact `script_score` query over every document with a vector that passes the filters. */
export function buildScriptScoreBody(
  vector: Float32Array | number[],
  options: DenseSearchBodyOptions,
  sourceOptions: ElasticsearchSourceOptions | ResolvedSourceOptions = {},
) {
  const o = asResolved(sourceOptions);
  const field = options.vectorField ?? DEFAULT_VECTOR_FIELD;
  const filters: estypes.QueryDslQueryContainer[] = [
    { exists: { field } },
    ...filterClauses(options.filter, o),
    ...o.filter,
  ];
  return {
    size: options.k,
    track_total_hits: false as const,
    _source: { includes: sourceIncludes(o) },
    query: {
      script_score: {
        query: { bool: { filter: filters } },
        script: { source: SCRIPT_SOURCE, params: { query_vector: Array.from(vector), field } },
      },
    },
  };
}

/** The document written for a passage with its vector (the `index` action replaces the whole document). */
export function vectorDocument(
  passage: Passage,
  vector: Float32Array | number[],
  sourceOptions: ElasticsearchSourceOptions | ResolvedSourceOptions = {},
  vectorField = DEFAULT_VECTOR_FIELD,
): Record<string, unknown> {
  const o = asResolved(sourceOptions);
  return { ...documentFor(passage, o), [vectorField]: Array.from(vector) };
}

export interface ElasticsearchDenseSourceOptions extends ElasticsearchSourceOptions {
  /** Encodes queries and passages (TAS-B). Not closed by the source. */
  encoder: DenseEncoder;
  /** `knn` (default; needs Elasticsearch >= 8.11) or `script_score`. `detectDenseMode(client)` picks for a cluster. */
  denseMode?: DenseMode;
  /** Field holding the vector (default `vector`). */
  vectorField?: string;
  /** knn `num_candidates` (default max(100, 2k), at most 10000). */
  numCandidates?: number;
}

/**
 * Dense retrieval on Elasticsearch (`kind: 'dense'`): passages are written with their TAS-B vector (one `_bulk`
 * `index` action per passage: text, metadata and vector together), queries are encoded and searched with `knn`
 * or `script_score`. `score` is the inner product (recovered from `_score`).
 */
export class ElasticsearchDenseSource implements CandidateSource {
  readonly kind = 'dense' as const;
  readonly base: ElasticsearchSource;
  readonly encoder: DenseEncoder;
  readonly denseMode: DenseMode;
  readonly vectorField: string;
  private readonly numCandidates: number | undefined;
  private ensured = false;
  private readonly autoCreate: boolean;

  constructor(config: DotrankConfig, options: ElasticsearchDenseSourceOptions) {
    const { encoder, denseMode, vectorField, numCandidates, ...rest } = options;
    if (!encoder || typeof encoder.encodeQueries !== 'function')
      throw new ConfigError('encoder', 'a DenseEncoder is required for the Elasticsearch dense source');
    this.encoder = encoder;
    this.denseMode = denseMode ?? 'knn';
    denseVectorMapping(encoder.dimension, this.denseMode); // validates mode and dims
    this.vectorField = vectorField ?? DEFAULT_VECTOR_FIELD;
    if (this.vectorField.trim() === '') throw new ValidationError('vectorField', 'must be a field name');
    this.numCandidates = numCandidates;
    this.autoCreate = options.autoCreateIndex ?? true;
    this.base = new ElasticsearchSource(config, { ...rest, autoCreateIndex: false });
  }

  get client(): Client {
    return this.base.client;
  }

  get indexName(): string {
    return this.base.indexName;
  }

  /**
   * Creates the index (BM25 text fields + the vector field) when missing; on an existing index, adds the vector
   * field mapping (`PUT _mapping`; Elasticsearch refuses a conflicting existing mapping with a clear 400).
   */
  async ensureIndex(ensure: EnsureIndexOptions = {}): Promise<EnsureIndexResult> {
    const index = this.base.indexName;
    const ctx = { index, auth: authKindOf(this.client) };
    let exists: boolean;
    try {
      exists = await this.client.indices.exists({ index });
    } catch (error) {
      throw translateError(error, { ...ctx, action: 'check index' });
    }
    if (!exists) {
      const definition = buildDenseIndexDefinition(
        this.encoder.dimension,
        { denseMode: this.denseMode, vectorField: this.vectorField, ensure },
        this.base.options,
      );
      try {
        await this.client.indices.create({ index, settings: definition.settings, mappings: definition.mappings });
        this.ensured = true;
        return { index, created: true };
      } catch (error) {
        const type = (error as { body?: { error?: { type?: string } } }).body?.error?.type;
        if (type !== 'resource_already_exists_exception')
          throw translateError(error, { ...ctx, action: 'create index', inputField: 'index' });
      }
    }
    try {
      await this.client.indices.putMapping({
        index,
        properties: { [this.vectorField]: denseVectorMapping(this.encoder.dimension, this.denseMode) },
      });
    } catch (error) {
      throw translateError(error, { ...ctx, action: 'add the vector mapping', inputField: 'vectorField' });
    }
    this.ensured = true;
    return { index, created: false };
  }

  async search(query: string, options: SearchOptions): Promise<Candidate[]> {
    const { k } = validateSearch(query, options);
    const [vector] = await this.encoder.encodeQueries([query]);
    options.signal?.throwIfAborted();
    const bodyOptions: DenseSearchBodyOptions = {
      k,
      vectorField: this.vectorField,
      ...(options.filter ? { filter: options.filter } : {}),
      ...(this.numCandidates !== undefined ? { numCandidates: this.numCandidates } : {}),
    };
    const body =
      this.denseMode === 'knn'
        ? buildKnnBody(vector!, bodyOptions, this.base.options)
        : buildScriptScoreBody(vector!, bodyOptions, this.base.options);
    let hits: estypes.SearchHit<unknown>[];
    try {
      const response = await this.client.search(
        { index: this.base.indexName, ...body } as estypes.SearchRequest,
        options.signal ? { signal: options.signal } : {},
      );
      hits = response.hits.hits;
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason;
      throw translateError(error, { action: 'search', index: this.base.indexName, auth: authKindOf(this.client) });
    }
    return hits.map((hit) => {
      const passage = passageFromHit(hit, this.base.options);
      const candidate: Candidate = {
        id: passage.id,
        text: passage.text,
        score: innerProductFromScore(hit._score ?? 0),
      };
      if (passage.metadata) candidate.metadata = passage.metadata;
      return candidate;
    });
  }

  /** Encodes passages in batches and writes each with its vector in `_bulk` `index` actions (same accounting as the BM25 ingest). */
  async index(passages: AsyncIterable<Passage> | Iterable<Passage>, options: IndexOptions = {}): Promise<IndexReport> {
    const started = performance.now();
    if (!this.ensured && this.autoCreate) await this.ensureIndex();
    const o = this.base.options;
    const batchSize = options.batchSize ?? Math.min(o.bulk.maxDocs, 64);
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new ValidationError('batchSize', `must be an integer >= 1 (got ${String(batchSize)})`);
    const ctx: BulkContext = {
      client: this.client,
      options: o,
      auth: authKindOf(this.client),
      compatibility: this.base.compatibility,
    };
    const tally = { indexed: 0, failed: 0, failures: [] as IndexFailure[] };
    const total = Array.isArray(passages) ? passages.length : undefined;
    let skipped = 0;
    let seen = 0;
    let batch: Passage[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      const current = batch;
      batch = [];
      const texts = current.map((p) =>
        p.title && p.title.trim() !== '' ? `${p.title}${o.textSeparator}${p.text}` : p.text,
      );
      const vectors = await this.encoder.encodePassages(texts);
      const entries: BulkEntry[] = current.map((p, i) => {
        const actionLine = JSON.stringify({ index: { _id: p.id } });
        const documentLine = JSON.stringify(vectorDocument(p, vectors[i]!, o, this.vectorField));
        return {
          id: p.id,
          actionLine,
          documentLine,
          bytes: Buffer.byteLength(actionLine) + Buffer.byteLength(documentLine) + 2,
        };
      });
      await sendBatch(ctx, entries, tally);
      options.onProgress?.({ done: seen, ...(total !== undefined ? { total } : {}) });
    };
    for await (const item of passages) {
      seen++;
      const checked = checkPassage(item, o);
      if (checked.kind === 'skip') skipped++;
      else if (checked.kind === 'fail') {
        tally.failed++;
        tally.failures.push(checked.failure);
      } else {
        batch.push(item);
        if (batch.length >= batchSize) await flush();
      }
    }
    await flush();
    if (o.bulk.refresh && tally.indexed > 0) {
      try {
        await this.client.indices.refresh({ index: o.index });
      } catch (error) {
        throw translateError(error, { action: 'refresh', index: o.index, auth: authKindOf(this.client) });
      }
    }
    return {
      indexed: tally.indexed,
      failed: tally.failed,
      skipped,
      failures: tally.failures,
      durationMs: performance.now() - started,
    };
  }

  count(): Promise<number> {
    return this.base.count();
  }

  close(): Promise<void> {
    return this.base.close();
  }
}

/** An Elasticsearch dense source from dotrank configuration. */
export function createElasticsearchDenseSource(
  config: DotrankConfig,
  options: ElasticsearchDenseSourceOptions,
): ElasticsearchDenseSource {
  return new ElasticsearchDenseSource(config, options);
}
