import { UnavailableError, ValidationError, validateK } from '@dotrank/core';
import type {
  Candidate,
  CandidateSource,
  IndexFailure,
  IndexOptions,
  IndexReport,
  Passage,
  SearchOptions,
} from '@dotrank/core';
import { BM25Index } from './bm25-index.js';
import type { BM25IndexOptions } from './bm25-index.js';
import { hasSavedIndex } from './persist.js';

export interface EmbeddedSourceOptions extends BM25IndexOptions {
  /**
   * Directory of the saved index. When it holds one, it is loaded; `index()` saves into it after each call
   * (so a restart does not re-index). Without a directory the index lives in memory only.
   */
  dir?: string;
}

/** The embedded BM25 engine as a CandidateSource (`kind: 'bm25'`). */
export class EmbeddedBM25Source implements CandidateSource {
  readonly kind = 'bm25' as const;
  private closed = false;

  constructor(
    readonly engine: BM25Index,
    private readonly dir?: string,
  ) {}

  private ensureOpen(): void {
    if (this.closed) throw new UnavailableError('bm25', 'this source is closed');
  }

  async search(query: string, options: SearchOptions): Promise<Candidate[]> {
    this.ensureOpen();
    if (typeof query !== 'string') throw new ValidationError('query', 'must be a string');
    const k = validateK(options?.k);
    options.signal?.throwIfAborted();
    return this.engine.search(query, { k, ...(options.filter ? { filter: options.filter } : {}) });
  }

  async index(passages: AsyncIterable<Passage> | Iterable<Passage>, options: IndexOptions = {}): Promise<IndexReport> {
    this.ensureOpen();
    const started = performance.now();
    const failures: IndexFailure[] = [];
    const every = Math.max(1, options.batchSize ?? 1000);
    let indexed = 0;
    let seen = 0;
    for await (const passage of passages) {
      seen++;
      try {
        this.engine.add(passage);
        indexed++;
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        const id = passage && typeof passage.id === 'string' && passage.id !== '' ? passage.id : undefined;
        failures.push({ ...(id ? { id } : {}), reason: error.message });
      }
      if (seen % every === 0) options.onProgress?.({ done: seen });
    }
    options.onProgress?.({ done: seen, total: seen });
    if (this.dir) await this.engine.save(this.dir);
    return { indexed, failed: failures.length, skipped: 0, failures, durationMs: performance.now() - started };
  }

  async count(): Promise<number> {
    this.ensureOpen();
    return this.engine.size;
  }

  /** Saves into the source's directory now (index() already does after each call). */
  async flush(): Promise<void> {
    this.ensureOpen();
    if (this.dir) await this.engine.save(this.dir);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/**
 * The zero-set-up first stage: loads the index saved in `options.dir` when there is one, else starts empty.
 * `k1`/`b` given for an existing index must match the saved ones (ConfigError otherwise).
 */
export async function createEmbeddedSource(options: EmbeddedSourceOptions = {}): Promise<EmbeddedBM25Source> {
  const { dir, ...params } = options;
  const index = dir && (await hasSavedIndex(dir)) ? await BM25Index.load(dir, params) : new BM25Index(params);
  return new EmbeddedBM25Source(index, dir);
}
