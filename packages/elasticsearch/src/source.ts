import type { Client } from '@elastic/elasticsearch';
import { ConfigError } from '@dotrank/core';
import type {
  Candidate,
  CandidateSource,
  DotrankConfig,
  IndexOptions,
  IndexReport,
  Passage,
  SearchOptions,
} from '@dotrank/core';
import { bulkIndex } from './bulk.js';
import type { BulkContext } from './bulk.js';
import { authKindOf, compatibilityOf, createClientFromConfig } from './client.js';
import type { ServerCompatibility } from './client.js';
import { translateError } from './errors.js';
import type { AuthKind, ErrorContext } from './errors.js';
import { buildIndexDefinition, resolveBm25, SIMILARITY_NAME } from './mapping.js';
import type { EnsureIndexOptions } from './mapping.js';
import { resolveSourceOptions } from './options.js';
import { sourceOptionsFromConfig } from './index-config.js';
import type { ElasticsearchSourceOptions, ResolvedSourceOptions } from './options.js';
import { buildSearchBody, passageFromHit } from './query.js';

export interface EnsureIndexResult {
  index: string;
  /** True when this call created the index. */
  created: boolean;
  /** The dotrank BM25 similarity of the existing or created index, when it has one. */
  similarity?: { k1: number; b: number };
}

/** A CandidateSource backed by an Elasticsearch index (bring your own, or one made by `ensureIndex`). */
export class ElasticsearchSource implements CandidateSource {
  readonly kind = 'elasticsearch' as const;
  readonly client: Client;
  readonly options: ResolvedSourceOptions;
  readonly compatibility: ServerCompatibility;
  private readonly ownsClient: boolean;
  private readonly auth: AuthKind;
  private readonly timeoutMs: number | undefined;
  private ensured = false;
  private closed = false;

  constructor(config: DotrankConfig, options: ElasticsearchSourceOptions = {}) {
    // the configured fields of the index (ELASTICSEARCH_*_FIELDS, DOTRANK_INDEX_CONFIG), under options given in code
    const index = options.index ?? config.ELASTICSEARCH_INDEX;
    const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
    this.options = resolveSourceOptions(
      { ...sourceOptionsFromConfig(config, index), ...given },
      config.ELASTICSEARCH_INDEX,
    );
    if (options.client) {
      this.client = options.client;
      this.ownsClient = false;
      this.compatibility = options.compatibility ?? compatibilityOf(options.client);
    } else {
      this.client = createClientFromConfig(config, {
        ...(options.compatibility !== undefined ? { compatibility: options.compatibility } : {}),
        ...(options.clientOptions ? { clientOptions: options.clientOptions } : {}),
      });
      this.ownsClient = true;
      this.compatibility = options.compatibility ?? 8;
    }
    this.auth = authKindOf(this.client);
    this.timeoutMs = config.ELASTICSEARCH_TIMEOUT_MS;
  }

  /** The index (or alias) this source reads and writes. */
  get indexName(): string {
    return this.options.index;
  }

  private context(action: string, inputField?: string): ErrorContext {
    return {
      action,
      index: this.options.index,
      auth: this.auth,
      ...(inputField ? { inputField } : {}),
      ...(this.timeoutMs ? { timeoutMs: this.timeoutMs } : {}),
    };
  }

  private assertOpen(): void {
    if (this.closed) throw new ConfigError('source', 'this Elasticsearch source is closed');
  }

  async search(query: string, options: SearchOptions): Promise<Candidate[]> {
    this.assertOpen();
    const body = buildSearchBody(query, options, this.options);
    let hits;
    try {
      const response = await this.client.search(
        { index: this.options.index, ...body },
        options.signal ? { signal: options.signal } : {},
      );
      hits = response.hits.hits;
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason;
      throw translateError(error, this.context('search'));
    }
    return hits.map((hit) => {
      const passage = passageFromHit(hit, this.options);
      const candidate: Candidate = { id: passage.id, text: passage.text, score: hit._score ?? 0 };
      if (passage.metadata) candidate.metadata = passage.metadata;
      return candidate;
    });
  }

  async index(passages: AsyncIterable<Passage> | Iterable<Passage>, options: IndexOptions = {}): Promise<IndexReport> {
    this.assertOpen();
    if (this.options.autoCreateIndex && !this.ensured) await this.ensureIndex();
    const ctx: BulkContext = {
      client: this.client,
      options: this.options,
      auth: this.auth,
      compatibility: this.compatibility,
      ...(this.timeoutMs ? { timeoutMs: this.timeoutMs } : {}),
    };
    return bulkIndex(ctx, passages, options);
  }

  async count(): Promise<number> {
    this.assertOpen();
    try {
      const response = await this.client.count({ index: this.options.index });
      return response.count;
    } catch (error) {
      throw translateError(error, this.context('count'));
    }
  }

  /**
   * Creates the index with an explicit BM25 similarity (k1, b), the standard analyzer and the dotrank mapping when
   * it does not exist. When it exists, explicitly requested k1/b must match its dotrank similarity (ConfigError otherwise).
   */
  async ensureIndex(options: EnsureIndexOptions = {}): Promise<EnsureIndexResult> {
    this.assertOpen();
    const { k1, b } = resolveBm25(options);
    const index = this.options.index;
    let exists: boolean;
    try {
      exists = await this.client.indices.exists({ index });
    } catch (error) {
      throw translateError(error, this.context('check index'));
    }
    if (!exists) {
      const definition = buildIndexDefinition(options, this.options);
      try {
        await this.client.indices.create({ index, settings: definition.settings, mappings: definition.mappings });
        this.ensured = true;
        return { index, created: true, similarity: { k1, b } };
      } catch (error) {
        const type = (error as { body?: { error?: { type?: string } } }).body?.error?.type;
        if (type !== 'resource_already_exists_exception')
          throw translateError(error, this.context('create index', 'index'));
      }
    }
    const existing = await this.existingSimilarity();
    if (existing) {
      const mismatch =
        (options.k1 !== undefined && existing.k1 !== options.k1) ||
        (options.b !== undefined && existing.b !== options.b);
      if (mismatch) {
        throw new ConfigError(
          options.k1 !== undefined && existing.k1 !== options.k1 ? 'k1' : 'b',
          `index "${index}" already exists with BM25 k1=${existing.k1}, b=${existing.b}; delete it or use another ELASTICSEARCH_INDEX to use k1=${k1}, b=${b}`,
        );
      }
    }
    this.ensured = true;
    return { index, created: false, ...(existing ? { similarity: existing } : {}) };
  }

  /** k1/b of the `dotrank_bm25` similarity of the (first concrete) index, if any. */
  private async existingSimilarity(): Promise<{ k1: number; b: number } | undefined> {
    let response: Record<string, { settings?: unknown }>;
    try {
      response = (await this.client.indices.getSettings({ index: this.options.index, flat_settings: true })) as Record<
        string,
        { settings?: unknown }
      >;
    } catch (error) {
      throw translateError(error, this.context('read index settings'));
    }
    for (const entry of Object.values(response)) {
      const settings = (entry?.settings ?? {}) as Record<string, unknown>;
      const k1 = settings[`index.similarity.${SIMILARITY_NAME}.k1`];
      const b = settings[`index.similarity.${SIMILARITY_NAME}.b`];
      if (k1 !== undefined && b !== undefined) return { k1: Number(k1), b: Number(b) };
    }
    return undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsClient) await this.client.close();
  }
}

/** An Elasticsearch candidate source from dotrank configuration (URL/cloud id, auth, TLS, timeout, index). */
export function createElasticsearchSource(
  config: DotrankConfig,
  options?: ElasticsearchSourceOptions,
): ElasticsearchSource {
  return new ElasticsearchSource(config, options);
}

/** Free-function form of `ElasticsearchSource#ensureIndex`. */
export function ensureIndex(source: ElasticsearchSource, options: EnsureIndexOptions = {}): Promise<EnsureIndexResult> {
  return source.ensureIndex(options);
}
