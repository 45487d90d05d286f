import { ConfigError, UnavailableError, ValidationError, matchesFilter, validateK } from '@dotrank/core';
import type {
  Candidate,
  CandidateSource,
  DenseEncoder,
  IndexFailure,
  IndexOptions,
  IndexReport,
  Passage,
  Scalar,
  SearchOptions,
} from '@dotrank/core';
import type { VectorStore } from '@dotrank/vector-cache';
import { ANN_BACKENDS, resolveAnnBackend, validateHnswParams } from './ann.js';
import type { AnnBackend, AnnBackendChoice, AnnGraph, HnswlibLoader, HnswParams, ResolvedAnn } from './ann.js';
import type { VectorHit } from './exact.js';
import { VectorMatrix } from './matrix.js';
import type { DocumentRow, StoredDoc } from './matrix.js';

export type DenseSearchMode = 'exact' | 'ann';

/**
 * How long documents are split into passage windows (structurally rerank-core's `candidateWindowsFor(...)`, so this
 * package needs no reranker): each window is `text.slice(start, end)` (UTF-16 offsets).
 */
export interface PassageSplitter {
  split(text: string): { text: string; start: number; end: number }[];
}

/** A splitter and the name of its windowing (e.g. its sizes), saved with the index: one index, one windowing. */
export interface NamedPassageSplitter extends PassageSplitter {
  name: string;
}

export interface DenseSourceOptions {
  /** The encoder (TAS-B): queries and passages share it. */
  encoder: DenseEncoder;
  /** Folder of the saved dense index: loaded when present, saved after each `index()` call. */
  dir?: string;
  /** `exact` (default): brute-force inner product over every vector. `ann`: the HNSW graph (built at index time). */
  mode?: DenseSearchMode;
  /** HNSW parameters (mode `ann`), for either backend. */
  hnsw?: HnswParams;
  /**
   * HNSW backend of mode `ann`: `auto` (default) = `hnswlib` when the optional package hnswlib-node loads, else `js`
   * with a notice; `hnswlib` = that or ConfigError('annBackend'); `js` = the built-in typed-array HNSW.
   */
  annBackend?: AnnBackendChoice;
  /** How hnswlib-node is loaded (default: `require('hnswlib-node')`); for tests and custom builds. */
  loadHnswlib?: HnswlibLoader;
  /**
   * Called with what the user should know: the backend fallback and its reason, a saved graph not used (stale,
   * unreadable) or rebuilt. Default: `process.emitWarning(message, 'DotrankWarning')`.
   */
  onNotice?: (message: string) => void;
  /** Passage-vector cache: vectors found there are not encoded again; encoded ones are written to it. */
  vectorStore?: VectorStore;
  /** Passages encoded per encoder call (default 32; `IndexOptions.batchSize` overrides it per call). */
  batchSize?: number;
  /**
   * Long documents: one row per window, each window's vector cached under the window's text (as the windowed reranker
   * caches it), and a document scored by its best window. A document that fits one window keeps one row, exactly as
   * without windows. An index saved with another windowing (or none) is refused (ConfigError('windows')).
   */
  windows?: NamedPassageSplitter;
}

/** One passage waiting to be encoded: the document and its windows (one whole-text window when it fits). */
interface PendingDoc {
  doc: StoredDoc;
  windows: { text: string; start: number; end: number }[];
}

/** The text a dense source encodes and returns: the passage's `text`, which readers already assembled (title included). */
export function passageText(passage: Passage): string {
  return passage.text;
}

function isScalar(v: unknown): v is Scalar {
  return typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v)) || typeof v === 'boolean';
}

/**
 * The embedded dense first stage (`kind: 'dense'`): TAS-B passage vectors in one Float32Array matrix, searched
 * exactly (blocked inner products + bounded heap) or approximately (HNSW). Filters always search exactly, so a
 * filter never loses results to the graph.
 */
export class DenseSource implements CandidateSource {
  readonly kind = 'dense' as const;
  readonly encoder: DenseEncoder;
  readonly mode: DenseSearchMode;
  private closed = false;
  private ann: ResolvedAnn | undefined;

  /** `ann` is the backend already resolved by createDenseSource (else resolved here in mode `ann`, or at first use). */
  constructor(
    readonly vectors: VectorMatrix,
    private readonly options: DenseSourceOptions,
    ann?: ResolvedAnn,
  ) {
    this.encoder = options.encoder;
    this.mode = options.mode ?? 'exact';
    if (this.mode !== 'exact' && this.mode !== 'ann')
      throw new ValidationError('mode', `must be "exact" or "ann" (got ${String(this.mode)})`);
    if (options.annBackend !== undefined && !ANN_BACKENDS.includes(options.annBackend)) {
      throw new ValidationError(
        'annBackend',
        `must be one of ${ANN_BACKENDS.join(', ')} (got ${JSON.stringify(options.annBackend)})`,
      );
    }
    if (options.hnsw !== undefined) validateHnswParams(options.hnsw); // fail at creation, not at the first build
    this.ann = ann;
    if (ann?.reason) this.notice(ann.reason);
    if (this.mode === 'ann') {
      this.resolveAnn();
      if (vectors.graphNotice) this.notice(vectors.graphNotice);
    }
  }

  private notice(message: string): void {
    if (this.options.onNotice) this.options.onNotice(message);
    else process.emitWarning(message, 'DotrankWarning');
  }

  /** The backend, resolved once (the fallback reason is told once). */
  private resolveAnn(): ResolvedAnn {
    if (!this.ann) {
      this.ann = resolveAnnBackend(this.options.annBackend, this.options.loadHnswlib);
      if (this.ann.reason) this.notice(this.ann.reason);
    }
    return this.ann;
  }

  /** The approximate backend in use and, when it is not the one asked for, why. */
  get annStatus(): { backend: AnnBackend; reason?: string } {
    const { backend, reason } = this.resolveAnn();
    return reason ? { backend, reason } : { backend };
  }

  /** The HNSW graph over every row, with the configured backend and parameters: built or brought up to date here. */
  private annGraph(onProgress?: (done: number, total: number) => void): AnnGraph {
    const ann = this.resolveAnn();
    const before = this.vectors.currentGraph;
    const graph = this.vectors.buildGraph(this.options.hnsw ?? {}, { ann, ...(onProgress ? { onProgress } : {}) });
    if (before && before !== graph) {
      this.notice(
        `rebuilt the HNSW graph over ${graph.size} vectors with ${graph.backend} (M=${graph.M}, efConstruction=${graph.efConstruction}); the previous one was ${before.backend} (M=${before.M}, efConstruction=${before.efConstruction})`,
      );
    }
    return graph;
  }

  /**
   * Mode `ann`: makes sure an up-to-date graph exists (building it when missing, stale or of another backend) and
   * saves it; returns whether it had to be built. Mode `exact`: nothing to do.
   */
  async ensureAnnIndex(onProgress?: (done: number, total: number) => void): Promise<{ built: boolean }> {
    this.ensureOpen();
    if (this.mode !== 'ann' || this.vectors.size === 0) return { built: false };
    const before = this.vectors.currentGraph;
    const graph = this.annGraph(onProgress);
    const built = graph !== before;
    if (built && this.options.dir) await this.vectors.save(this.options.dir, this.encoder);
    return { built };
  }

  private ensureOpen(): void {
    if (this.closed) throw new UnavailableError('dense', 'this source is closed');
  }

  /** Searches with a query vector (for callers that already encoded the query). */
  searchVector(
    query: Float32Array,
    options: Omit<SearchOptions, 'signal'> & { mode?: DenseSearchMode; efSearch?: number },
  ): VectorHit[] {
    const { k, filter } = options;
    const mode = options.mode ?? this.mode;
    if (filter)
      return this.vectors.exactDocuments(query, k, (row) => matchesFilter(this.vectors.docs[row]!.metadata, filter));
    if (mode === 'ann') return this.annDocuments(query, k, options.efSearch ?? this.options.hnsw?.efSearch);
    return this.vectors.exactDocuments(query, k);
  }

  /**
   * The approximate top-k documents by best window: the graph's top k' rows collapsed to documents (first hit of
   * each, skipping dead rows), k' doubled until k documents are found or every row was asked for.
   */
  private annDocuments(query: Float32Array, k: number, efSearch: number | undefined): VectorHit[] {
    const graph = this.annGraph();
    const vectors = this.vectors;
    if (vectors.oneRowPerDocument) return graph.search(query, k, efSearch);
    let wanted = k * Math.max(1, Math.ceil(vectors.size / Math.max(1, vectors.documents)));
    for (;;) {
      wanted = Math.min(wanted, vectors.size);
      const found = vectors.collapse(graph.search(query, wanted, efSearch), k);
      if (found.length >= k || wanted >= vectors.size) return found;
      wanted *= 2;
    }
  }

  async search(query: string, options: SearchOptions): Promise<Candidate[]> {
    this.ensureOpen();
    if (typeof query !== 'string' || query.trim() === '')
      throw new ValidationError('query', 'must be a non-empty string');
    const k = validateK(options?.k);
    options.signal?.throwIfAborted();
    if (this.vectors.size === 0) return [];
    const [vector] = await this.encoder.encodeQueries([query]);
    options.signal?.throwIfAborted();
    const hits = this.searchVector(vector!, { k, ...(options.filter ? { filter: options.filter } : {}) });
    return hits.map(({ row, score }) => {
      const doc = this.vectors.docs[row]!;
      const candidate: Candidate = { id: doc.id, text: doc.text, score };
      if (doc.metadata) candidate.metadata = { ...doc.metadata };
      return candidate;
    });
  }

  async index(passages: AsyncIterable<Passage> | Iterable<Passage>, options: IndexOptions = {}): Promise<IndexReport> {
    this.ensureOpen();
    const started = performance.now();
    const batchSize = options.batchSize ?? this.options.batchSize ?? 32;
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new ValidationError('batchSize', `must be an integer >= 1 (got ${batchSize})`);
    const total = Array.isArray(passages) ? passages.length : undefined;
    const failures: IndexFailure[] = [];
    let indexed = 0;
    let skipped = 0;
    let seen = 0;
    let batch: PendingDoc[] = [];
    let batchTexts = 0;
    const flush = async () => {
      if (batch.length === 0) return;
      const pending = batch;
      batch = [];
      batchTexts = 0;
      const vectors = await this.vectorsFor(
        pending.flatMap(({ doc, windows }) => windows.map((w) => ({ id: doc.id, text: w.text }))),
      );
      let at = 0;
      for (const { doc, windows } of pending) {
        const rows: DocumentRow[] = windows.map((w, index) => ({
          vector: vectors[at++]!,
          ...(windows.length > 1 ? { span: { index, start: w.start, end: w.end } } : {}),
        }));
        this.vectors.putDocument(doc, rows);
      }
      indexed += pending.length;
      options.onProgress?.({ done: seen, ...(total !== undefined ? { total } : {}) });
    };
    for await (const item of passages) {
      seen++;
      const p = item as Partial<Passage> | undefined;
      if (!p || typeof p.id !== 'string' || p.id.trim() === '') {
        failures.push({ reason: 'id must be a non-empty string' });
        continue;
      }
      if (typeof p.text !== 'string' || (p.title !== undefined && typeof p.title !== 'string')) {
        failures.push({ id: p.id, reason: 'text (and title, when present) must be strings' });
        continue;
      }
      if (
        p.metadata !== undefined &&
        (typeof p.metadata !== 'object' || p.metadata === null || !Object.values(p.metadata).every(isScalar))
      ) {
        failures.push({ id: p.id, reason: 'metadata values must be strings, finite numbers or booleans' });
        continue;
      }
      const text = passageText(p as Passage);
      if (text.trim() === '') {
        skipped++;
        continue;
      }
      const doc: StoredDoc = { id: p.id, text, ...(p.metadata ? { metadata: { ...p.metadata } } : {}) };
      const windows = this.windowsOf(text);
      batch.push({ doc, windows });
      batchTexts += windows.length;
      if (batchTexts >= batchSize) await flush();
    }
    await flush();
    if (this.mode === 'ann') this.annGraph();
    if (this.options.dir) await this.vectors.save(this.options.dir, this.encoder);
    options.onProgress?.({ done: seen, total: seen });
    return { indexed, failed: failures.length, skipped, failures, durationMs: performance.now() - started };
  }

  /** The texts a document is encoded as: its windows, or its whole text when it fits one window (or none is set). */
  private windowsOf(text: string): PendingDoc['windows'] {
    const whole = [{ text, start: 0, end: text.length }];
    const windows = this.options.windows?.split(text);
    return windows && windows.length > 1 ? windows : whole;
  }

  /**
   * Vectors for a batch of texts (documents or windows, keyed `{id, text}` as the reranker keys them): cache hits from
   * the vector store, the rest encoded (and written back to the store).
   */
  private async vectorsFor(keys: { id: string; text: string }[]): Promise<Float32Array[]> {
    const store = this.options.vectorStore;
    const found: (Float32Array | undefined)[] = store ? await store.getMany(keys) : keys.map(() => undefined);
    const missing: number[] = [];
    found.forEach((v, i) => {
      if (!v || v.length !== this.encoder.dimension) missing.push(i);
    });
    if (missing.length > 0) {
      const encoded = await this.encoder.encodePassages(missing.map((i) => keys[i]!.text));
      missing.forEach((i, j) => (found[i] = encoded[j]!));
      if (store) await store.setMany(missing.map((i) => ({ key: keys[i]!, vector: found[i]! })));
    }
    return found as Float32Array[];
  }

  /** Documents indexed (a long document counts once, whatever its windows). */
  async count(): Promise<number> {
    this.ensureOpen();
    return this.vectors.documents;
  }

  /** Saves into the source's directory now (index() already does after each call). */
  async flush(): Promise<void> {
    this.ensureOpen();
    if (this.options.dir) await this.vectors.save(this.options.dir, this.encoder);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/**
 * The embedded dense source: loads the index saved in `options.dir` when there is one (it must have been built
 * with the same model), else starts empty. The encoder is not closed by the source.
 */
export async function createDenseSource(options: DenseSourceOptions): Promise<DenseSource> {
  const { encoder } = options;
  if (!encoder || typeof encoder.encodeQueries !== 'function')
    throw new ConfigError('encoder', 'a DenseEncoder is required for the dense source');
  // Resolved before loading: a saved hnswlib graph is read only when that backend is the one in use.
  const ann = options.mode === 'ann' ? resolveAnnBackend(options.annBackend, options.loadHnswlib) : undefined;
  const vectors =
    options.dir && (await VectorMatrix.exists(options.dir))
      ? await VectorMatrix.load(options.dir, encoder, ann?.backend === 'hnswlib' ? { hnswlib: ann.module } : {})
      : new VectorMatrix(encoder.dimension);
  const windows = options.windows?.name;
  if (vectors.size === 0) vectors.windows = windows;
  else if (vectors.windows !== windows) {
    const name = (w: string | undefined) => (w === undefined ? 'whole documents' : `windows ${w}`);
    throw new ConfigError(
      'windows',
      `the dense index in ${options.dir} was built over ${name(vectors.windows)}, not ${name(windows)}; delete it to rebuild`,
    );
  }
  return new DenseSource(vectors, options, ann);
}
