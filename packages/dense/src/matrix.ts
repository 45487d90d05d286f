import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ConfigError, TopK, ValidationError } from '@dotrank/core';
import type { Scalar } from '@dotrank/core';
import type { AnnGraph, HnswlibModule, HnswParams, ResolvedAnn } from './ann.js';
import { BLOCK_ROWS, blockDot, exactSearch } from './exact.js';
import type { VectorHit } from './exact.js';
import { HnswIndex } from './hnsw.js';
import type { HnswState } from './hnsw.js';
import { HnswlibIndex } from './hnswlib.js';

/** One stored passage: its id, the text returned with candidates, and its metadata. */
export interface StoredDoc {
  id: string;
  text: string;
  metadata?: Record<string, Scalar>;
}

/**
 * Where a window row's text lies in its document's text: window `index` (0-based) spans `start`..`end` (UTF-16 code
 * units). A document that fits one window has one row and no span, exactly as without windows.
 */
export interface WindowSpan {
  index: number;
  start: number;
  end: number;
}

/** One row to store for a document: its vector and, for a window of a long document, where the window lies. */
export interface DocumentRow {
  vector: Float32Array;
  span?: WindowSpan;
}

/** What a row of docs.jsonl holds: a document (its first or only row), a further window of one, or a dead row. */
type SavedRow = (StoredDoc & Partial<Omit<WindowSpan, 'index'>> & { window?: number }) | { deleted: true };

export const DENSE_FORMAT = 'dotrank-dense';
export const DENSE_FORMAT_VERSION = 1;
const MANIFEST = 'dense.json';
/** hnswlib's own index file (inner-product space). */
export const HNSWLIB_FILE = 'hnswlib-ip.bin';

export interface DenseManifest {
  format: string;
  formatVersion: number;
  modelId: string;
  revision: string;
  dimension: number;
  count: number;
  /** Documents (rows minus further windows and dead rows). */
  documents?: number;
  /** The windowing the rows were made with (`DenseSourceOptions.windows.name`); absent: whole documents. */
  windows?: string;
  /** The JS HNSW graph (files hnsw-*.u8 / *.i32), when saved. */
  hnsw?: Omit<HnswState, 'levels' | 'counts0' | 'links0' | 'upper'> & { upperLevels: number };
  /** The hnswlib graph (file `hnswlib-ip.bin`, `bytes` long), when saved. */
  hnswlib?: {
    file: string;
    M: number;
    efConstruction: number;
    efSearch: number;
    seed: number;
    count: number;
    bytes: number;
  };
  /**
   * SHA-256 of vectors.f32 as written with this manifest. A saved graph is used only over exactly these vectors:
   * a vectors file changed behind the manifest (or a crash between the renames) makes the graph stale, not wrong.
   */
  vectorsSha256?: string;
  savedAt: string;
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Throws a ConfigError unless `dir`'s manifest is our format and was built with `model`. */
function assertManifestFits(
  manifest: DenseManifest,
  dir: string,
  model: { modelId: string; revision: string; dimension: number },
): void {
  if (manifest.format !== DENSE_FORMAT || manifest.formatVersion !== DENSE_FORMAT_VERSION) {
    throw new ConfigError(
      'dir',
      `${dir} holds ${manifest.format} v${manifest.formatVersion}, expected ${DENSE_FORMAT} v${DENSE_FORMAT_VERSION}; delete it to rebuild`,
    );
  }
  if (
    manifest.modelId !== model.modelId ||
    manifest.revision !== model.revision ||
    manifest.dimension !== model.dimension
  ) {
    throw new ConfigError(
      'model',
      `the dense index in ${dir} was built with ${manifest.modelId}@${manifest.revision} (${manifest.dimension} dims), not ${model.modelId}@${model.revision} (${model.dimension} dims); delete it to rebuild`,
    );
  }
}

/** Reads the JS HNSW graph files `save` wrote (hnsw-*.u8 / *.i32) back into a graph over `matrix`. */
async function readJsGraph(
  dir: string,
  saved: NonNullable<DenseManifest['hnsw']>,
  matrix: Float32Array,
): Promise<HnswIndex> {
  const i32 = async (name: string) => {
    const b = await readFile(join(dir, name));
    const copy = new Uint8Array(b.byteLength);
    copy.set(b);
    return new Int32Array(copy.buffer);
  };
  const levels = new Uint8Array(await readFile(join(dir, 'hnsw-levels.u8')));
  const counts0 = new Uint8Array(await readFile(join(dir, 'hnsw-counts0.u8')));
  const links0 = await i32('hnsw-links0.i32');
  const flat = await i32('hnsw-upper.i32');
  const upper: (Int32Array | undefined)[] = [];
  let at = 0;
  for (let i = 0; i < saved.count; i++) {
    const len = levels[i]! * (saved.M + 1);
    upper.push(len > 0 ? flat.slice(at, at + len) : undefined);
    at += len;
  }
  const { upperLevels: _u, ...rest } = saved;
  return HnswIndex.fromState({ ...rest, levels, counts0, links0, upper }, matrix);
}

/** The document of a dead row (a window a re-indexed document no longer has): never returned by a search. */
const DEAD_ROW: StoredDoc = Object.freeze({ id: '', text: '' });

/**
 * Passage vectors as one contiguous row-major Float32Array (grown by doubling), the passages beside them, an id ->
 * rows map, and optionally an HNSW graph over the same rows. A passage indexed again under its id overwrites its rows.
 * A long document may have one row per window (`putDocument`); every row of a document points at the same StoredDoc,
 * and the document's score is its best row's. Rows a re-indexed document no longer needs are dead: kept in place (so
 * row numbers and the graph stay valid) and never returned.
 */
export class VectorMatrix {
  private data: Float32Array;
  private rows = 0;
  /** Per row: the document it belongs to (DEAD_ROW for a dead row). */
  readonly docs: StoredDoc[] = [];
  /** Per row: where the window lies in its document's text; undefined for a whole-document row. */
  readonly spans: (WindowSpan | undefined)[] = [];
  /** Per document id: its rows, in window order (one row for a whole document). */
  private readonly rowsOf = new Map<string, number[]>();
  /** Per document id: its ordinal (index into per-document arrays of a search). */
  private readonly ordinalOf = new Map<string, number>();
  /** Per row: its document's ordinal, -1 for a dead row. */
  private owner: Int32Array;
  private deadRows = 0;
  /** The windowing the rows were made with (saved in the manifest); undefined: whole documents. */
  windows: string | undefined;
  private graph: AnnGraph | undefined;
  /** True when a row was overwritten after the JS graph linked it: the graph must be rebuilt before use. */
  private graphStale = false;
  /** Rows overwritten after the hnswlib graph linked them: re-inserted (hnswlib updates in place) before use. */
  private readonly dirtyRows = new Set<number>();
  /** Why the graph saved beside the vectors was not loaded (stale or unreadable); undefined when it was, or none. */
  graphNotice: string | undefined;
  /**
   * A valid hnswlib graph on disk that was not loaded (exact mode needs no graph), with the fingerprint of the vectors
   * it was built over: `save` keeps listing it while the vectors are unchanged, so exact mode never drops it.
   */
  private unloaded: { dir: string; entry: NonNullable<DenseManifest['hnswlib']>; vectorsSha256: string } | undefined;

  constructor(
    readonly dimension: number,
    capacity = 1024,
  ) {
    if (!Number.isInteger(dimension) || dimension < 1)
      throw new ValidationError('dimension', `must be an integer >= 1 (got ${dimension})`);
    this.data = new Float32Array(Math.max(1, capacity) * dimension);
    this.owner = new Int32Array(Math.max(1, capacity));
  }

  /** Rows (windows and dead rows included): what the graph covers. */
  get size(): number {
    return this.rows;
  }

  /** Documents held. */
  get documents(): number {
    return this.rowsOf.size;
  }

  /** True when every row is a whole live document (no windows, no dead rows): a row search is a document search. */
  get oneRowPerDocument(): boolean {
    return this.rows === this.rowsOf.size;
  }

  /** Whether the row belongs to a document still indexed (false for a dead row). */
  isLive(row: number): boolean {
    return row >= 0 && row < this.rows && this.owner[row]! >= 0;
  }

  /** The matrix (rows 0..size-1 are valid). */
  get matrix(): Float32Array {
    return this.data;
  }

  /** The document's first (or only) row. */
  rowOfId(id: string): number | undefined {
    return this.rowsOf.get(id)?.[0];
  }

  /** The document's rows, in window order. */
  rowsOfId(id: string): readonly number[] | undefined {
    return this.rowsOf.get(id);
  }

  /** Adds a passage or overwrites the row of its id; returns the row. */
  put(doc: StoredDoc, vector: Float32Array): number {
    return this.putDocument(doc, [{ vector }])[0]!;
  }

  /**
   * Adds a document with one row per window (one row without a span for a whole document), or replaces the rows of
   * its id: its existing rows are overwritten in window order, more windows get new rows, and rows it no longer needs
   * become dead. Returns its rows.
   */
  putDocument(doc: StoredDoc, rows: readonly DocumentRow[]): number[] {
    if (rows.length === 0) throw new ValidationError('rows', `passage ${doc.id} has no vectors`);
    for (const { vector } of rows) {
      if (vector.length !== this.dimension) {
        throw new ValidationError(
          'vector',
          `passage ${doc.id} has ${vector.length} dimensions, the index ${this.dimension}`,
        );
      }
    }
    let ordinal = this.ordinalOf.get(doc.id);
    if (ordinal === undefined) {
      ordinal = this.ordinalOf.size;
      this.ordinalOf.set(doc.id, ordinal);
    }
    const before = this.rowsOf.get(doc.id) ?? [];
    const placed: number[] = [];
    rows.forEach(({ vector, span }, i) => {
      const row = i < before.length ? before[i]! : this.newRow();
      if (i < before.length) this.overwritten(row);
      this.docs[row] = doc;
      this.spans[row] = span;
      this.owner[row] = ordinal;
      this.data.set(vector, row * this.dimension);
      placed.push(row);
    });
    for (const row of before.slice(rows.length)) this.kill(row);
    this.rowsOf.set(doc.id, placed);
    return placed;
  }

  private newRow(): number {
    const row = this.rows++;
    if (this.rows * this.dimension > this.data.length) {
      const grown = new Float32Array(Math.max(this.rows * this.dimension, this.data.length * 2));
      grown.set(this.data);
      this.data = grown;
      this.graph?.setMatrix(grown);
    }
    if (this.rows > this.owner.length) {
      const grown = new Int32Array(Math.max(this.rows, this.owner.length * 2));
      grown.set(this.owner);
      this.owner = grown;
    }
    this.docs.push(DEAD_ROW);
    this.spans.push(undefined);
    return row;
  }

  /** A row whose vector changes: a graph that linked it must re-insert it (hnswlib) or be rebuilt (JS). */
  private overwritten(row: number): void {
    if (this.graph && row < this.graph.size) {
      if (this.graph instanceof HnswlibIndex) this.dirtyRows.add(row);
      else this.graphStale = true;
    }
  }

  /** Marks a row dead: searches skip it; its vector stays (the graph still links it, as a waypoint). */
  private kill(row: number): void {
    this.docs[row] = DEAD_ROW;
    this.spans[row] = undefined;
    this.owner[row] = -1;
    this.deadRows++;
  }

  /** Dead rows (windows re-indexed documents no longer have). */
  get dead(): number {
    return this.deadRows;
  }

  row(row: number): Float32Array {
    return this.data.subarray(row * this.dimension, (row + 1) * this.dimension);
  }

  /** The exact top-k live rows (rows, not documents: a long document may appear once per window). */
  exact(query: Float32Array, k: number, accept?: (row: number) => boolean): VectorHit[] {
    if (this.deadRows === 0) return exactSearch(this.data, this.dimension, this.rows, query, k, accept);
    const owner = this.owner;
    return exactSearch(this.data, this.dimension, this.rows, query, k, (row) =>
      owner[row]! < 0 ? false : accept ? accept(row) : true,
    );
  }

  /**
   * The exact top-k documents, each scored by its best row (max inner product over its windows), as that row: one
   * pass over the matrix keeping each document's best, then a bounded heap over documents. `accept(row)` filters (a
   * document's rows share its metadata, so filtering rows filters documents). Without windows or dead rows this is
   * `exact` itself.
   */
  exactDocuments(query: Float32Array, k: number, accept?: (row: number) => boolean): VectorHit[] {
    if (this.oneRowPerDocument) return this.exact(query, k, accept);
    if (query.length !== this.dimension)
      throw new ValidationError('query', `vector has ${query.length} dimensions, the index ${this.dimension}`);
    const documents = this.ordinalOf.size;
    const best = new Float64Array(documents).fill(Number.NEGATIVE_INFINITY);
    const bestRow = new Int32Array(documents).fill(-1);
    const scores = new Float64Array(BLOCK_ROWS);
    for (let start = 0; start < this.rows; start += BLOCK_ROWS) {
      const count = Math.min(BLOCK_ROWS, this.rows - start);
      blockDot(this.data, this.dimension, start, count, query, scores);
      for (let r = 0; r < count; r++) {
        const row = start + r;
        const doc = this.owner[row]!;
        const score = scores[r]!;
        if (doc < 0 || score <= best[doc]!) continue;
        if (accept && !accept(row)) continue;
        best[doc] = score;
        bestRow[doc] = row;
      }
    }
    if (k < 1) return [];
    const heap = new TopK(Math.min(k, documents));
    for (let doc = 0; doc < documents; doc++) if (bestRow[doc]! >= 0) heap.push(bestRow[doc]!, best[doc]!);
    return heap.sorted();
  }

  /**
   * Row hits (best first) collapsed to documents: the first (best) hit of each live document, at most k. For the
   * approximate search, whose hits are rows.
   */
  collapse(hits: readonly VectorHit[], k: number): VectorHit[] {
    const seen = new Set<number>();
    const out: VectorHit[] = [];
    for (const hit of hits) {
      const doc = this.owner[hit.row];
      if (doc === undefined || doc < 0 || seen.has(doc)) continue;
      seen.add(doc);
      out.push(hit);
      if (out.length === k) break;
    }
    return out;
  }

  /**
   * Builds (or brings up to date) the HNSW graph over every row with `options.ann`'s backend (default `js`). A graph
   * of another backend or other M / efConstruction / seed, or a JS graph with overwritten rows, is rebuilt; an
   * hnswlib graph re-inserts overwritten rows in place; new rows are added to either.
   */
  buildGraph(
    params: HnswParams = {},
    options: { ann?: ResolvedAnn; onProgress?: (done: number, total: number) => void } = {},
  ): AnnGraph {
    const ann: ResolvedAnn = options.ann ?? { backend: 'js' };
    const g = this.graph;
    const same =
      g &&
      g.backend === ann.backend &&
      (params.M === undefined || params.M === g.M) &&
      (params.efConstruction === undefined || params.efConstruction === g.efConstruction) &&
      (params.seed === undefined || params.seed === g.seed);
    let graph: AnnGraph;
    if (!g || this.graphStale || !same) {
      graph =
        ann.backend === 'hnswlib'
          ? new HnswlibIndex(ann.module, this.dimension, this.data, params, Math.max(1, this.rows))
          : new HnswIndex(this.dimension, this.data, params);
      this.graph = graph;
      this.graphStale = false;
      this.dirtyRows.clear();
    } else graph = g;
    if (params.efSearch !== undefined) graph.efSearch = params.efSearch;
    if (graph instanceof HnswlibIndex) for (const row of this.dirtyRows) graph.update(row);
    this.dirtyRows.clear();
    for (let row = graph.size; row < this.rows; row++) {
      graph.add(row);
      if (options.onProgress && (row + 1) % 1000 === 0) options.onProgress(row + 1, this.rows);
    }
    return graph;
  }

  /** The graph when it covers every row and is not stale. */
  get currentGraph(): AnnGraph | undefined {
    return this.graph && !this.graphStale && this.dirtyRows.size === 0 && this.graph.size === this.rows
      ? this.graph
      : undefined;
  }

  /** Writes dense.json, vectors.f32, docs.jsonl and (when built) the graph files into `dir`, each atomically. */
  async save(dir: string, model: { modelId: string; revision: string }): Promise<void> {
    await mkdir(dir, { recursive: true });
    const graph = this.currentGraph;
    const write = async (name: string, data: Uint8Array | string) => {
      const tmp = join(dir, `${name}.tmp-${process.pid}`);
      await writeFile(tmp, data);
      await rename(tmp, join(dir, name));
    };
    const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const vectors = bytes(this.data.subarray(0, this.rows * this.dimension));
    await write('vectors.f32', vectors);
    await write('docs.jsonl', this.docs.map((d, row) => JSON.stringify(this.savedRow(d, row))).join('\n'));
    const vectorsSha256 = sha256(vectors);
    let hnsw: DenseManifest['hnsw'];
    let hnswlib: DenseManifest['hnswlib'];
    if (!graph && this.unloaded?.vectorsSha256 === vectorsSha256 && this.unloaded.dir === resolve(dir))
      hnswlib = this.unloaded.entry;
    else if (graph instanceof HnswlibIndex) {
      const tmp = join(dir, `${HNSWLIB_FILE}.tmp-${process.pid}`);
      await graph.save(tmp);
      const size = (await stat(tmp)).size;
      await rename(tmp, join(dir, HNSWLIB_FILE));
      hnswlib = {
        file: HNSWLIB_FILE,
        M: graph.M,
        efConstruction: graph.efConstruction,
        efSearch: graph.efSearch,
        seed: graph.seed,
        count: graph.size,
        bytes: size,
      };
    } else if (graph instanceof HnswIndex) {
      const { levels, counts0, links0, upper, ...rest } = graph.state();
      await write('hnsw-levels.u8', levels);
      await write('hnsw-counts0.u8', counts0);
      await write('hnsw-links0.i32', bytes(links0));
      const flat = new Int32Array(upper.reduce((n, u) => n + (u?.length ?? 0), 0));
      let at = 0;
      for (const u of upper) {
        if (!u) continue;
        flat.set(u, at);
        at += u.length;
      }
      await write('hnsw-upper.i32', bytes(flat));
      hnsw = { ...rest, upperLevels: flat.length };
    }
    const manifest: DenseManifest = {
      format: DENSE_FORMAT,
      formatVersion: DENSE_FORMAT_VERSION,
      modelId: model.modelId,
      revision: model.revision,
      dimension: this.dimension,
      count: this.rows,
      documents: this.rowsOf.size,
      ...(this.windows !== undefined ? { windows: this.windows } : {}),
      ...(hnsw ? { hnsw } : {}),
      ...(hnswlib ? { hnswlib } : {}),
      vectorsSha256,
      savedAt: new Date().toISOString(),
    };
    await write(MANIFEST, `${JSON.stringify(manifest, null, 2)}\n`);
    // An hnswlib file the manifest no longer lists belongs to earlier vectors: never read again, so free its disk.
    if (!hnswlib) await rm(join(dir, HNSWLIB_FILE), { force: true });
  }

  /** A row as saved: a whole document as before; a document's first window with its text; a further window by id. */
  private savedRow(doc: StoredDoc, row: number): SavedRow {
    if (this.owner[row]! < 0) return { deleted: true };
    const span = this.spans[row];
    if (!span) return doc;
    if (span.index === 0) return { ...doc, window: 0, start: span.start, end: span.end };
    return { id: doc.id, text: '', window: span.index, start: span.start, end: span.end };
  }

  /** Takes up row `row` of docs.jsonl (rows are read in order); errors name `file:line`. */
  private loadRow(saved: SavedRow, row: number, where: string): void {
    this.docs.push(DEAD_ROW);
    this.spans.push(undefined);
    if ('deleted' in saved) {
      this.owner[row] = -1;
      this.deadRows++;
      return;
    }
    if (typeof saved.id !== 'string' || saved.id === '')
      throw new ConfigError('dir', `${where}: a row without an id; delete the index to rebuild`);
    const span =
      saved.window !== undefined ? { index: saved.window, start: saved.start ?? 0, end: saved.end ?? 0 } : undefined;
    const { window: _w, start: _s, end: _e, ...doc } = saved;
    let rows = this.rowsOf.get(doc.id);
    if (!span || span.index === 0) {
      if (rows) throw new ConfigError('dir', `${where}: passage ${doc.id} appears twice; delete the index to rebuild`);
      rows = [];
      this.rowsOf.set(doc.id, rows);
      this.ordinalOf.set(doc.id, this.ordinalOf.size);
      this.docs[row] = doc;
    } else {
      if (!rows || rows.length !== span.index)
        throw new ConfigError(
          'dir',
          `${where}: window ${span.index} of ${doc.id} comes before its window ${rows?.length ?? 0}; delete the index to rebuild`,
        );
      this.docs[row] = this.docs[rows[0]!]!;
    }
    rows.push(row);
    this.spans[row] = span;
    this.owner[row] = this.ordinalOf.get(doc.id)!;
  }

  /**
   * Loads what `save` wrote; the model must be the one the vectors were made with (ConfigError otherwise). A saved
   * graph is loaded only when the manifest's vectors fingerprint matches vectors.f32 (else `graphNotice` says why
   * and the graph is rebuilt when next needed); an hnswlib graph only when `options.hnswlib` (the module) is given.
   */
  static async load(
    dir: string,
    model: { modelId: string; revision: string; dimension: number },
    options: { hnswlib?: HnswlibModule } = {},
  ): Promise<VectorMatrix> {
    const manifest = JSON.parse(await readFile(join(dir, MANIFEST), 'utf8')) as DenseManifest;
    assertManifestFits(manifest, dir, model);
    const raw = await readFile(join(dir, 'vectors.f32'));
    const n = manifest.count;
    const out = new VectorMatrix(manifest.dimension, Math.max(1, n));
    if (raw.byteLength !== n * manifest.dimension * 4)
      throw new ConfigError(
        'dir',
        `${dir}/vectors.f32 has ${raw.byteLength} bytes, expected ${n * manifest.dimension * 4}`,
      );
    new Uint8Array(out.data.buffer).set(raw);
    const lines = (await readFile(join(dir, 'docs.jsonl'), 'utf8')).split('\n').filter((l) => l !== '');
    if (lines.length !== n)
      throw new ConfigError('dir', `${dir}/docs.jsonl has ${lines.length} passages, expected ${n}`);
    lines.forEach((line, row) => out.loadRow(JSON.parse(line) as SavedRow, row, `${dir}/docs.jsonl:${row + 1}`));
    out.rows = n;
    out.windows = manifest.windows;
    await out.attachSavedGraph(dir, manifest, raw, options.hnswlib);
    return out;
  }

  /**
   * Takes up the graph saved beside freshly loaded vectors (`raw`, as read from vectors.f32) when it was built over
   * exactly them; otherwise leaves `graphNotice` saying why it was not used.
   */
  private async attachSavedGraph(
    dir: string,
    manifest: DenseManifest,
    raw: Uint8Array,
    hnswlib: HnswlibModule | undefined,
  ): Promise<void> {
    const savedGraph = manifest.hnswlib ? 'hnswlib' : manifest.hnsw ? 'js' : undefined;
    if (!savedGraph) return;
    // Old manifests (JS graph, no fingerprint) are trusted as before; every hnswlib manifest has one.
    if (manifest.vectorsSha256 !== undefined || manifest.hnswlib) {
      const actual = sha256(raw);
      if (actual !== manifest.vectorsSha256) {
        this.graphNotice = `the saved ${savedGraph} HNSW graph in ${dir} was built over other vectors (vectors.f32 changed behind dense.json): not used; it is rebuilt when needed`;
        return;
      }
    }
    if (manifest.hnswlib) await this.attachHnswlibGraph(dir, manifest, hnswlib);
    else if (manifest.hnsw) this.graph = await readJsGraph(dir, manifest.hnsw, this.data);
  }

  /** The hnswlib half of `attachSavedGraph`: without the module the graph is remembered (see `unloaded`), not read. */
  private async attachHnswlibGraph(
    dir: string,
    manifest: DenseManifest,
    hnswlib: HnswlibModule | undefined,
  ): Promise<void> {
    const entry = manifest.hnswlib!;
    if (!hnswlib) {
      this.unloaded = { dir: resolve(dir), entry, vectorsSha256: manifest.vectorsSha256! };
      return;
    }
    const n = manifest.count;
    const { file: _file, count, bytes, ...params } = entry;
    if (count !== n) {
      this.graphNotice = `the saved hnswlib graph in ${dir} covers ${count} of ${n} vectors: not used; it is rebuilt when needed`;
      return;
    }
    try {
      this.graph = await HnswlibIndex.load(
        hnswlib,
        join(dir, HNSWLIB_FILE),
        { dim: manifest.dimension, count, bytes, params },
        this.data,
      );
    } catch (error) {
      this.graphNotice = `the saved hnswlib graph in ${dir} could not be read (${error instanceof Error ? error.message : String(error)}): not used; it is rebuilt when needed`;
    }
  }

  static async exists(dir: string): Promise<boolean> {
    try {
      return (await stat(join(dir, MANIFEST))).isFile();
    } catch {
      return false;
    }
  }
}
