import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ConfigError, ValidationError } from '@dotrank/core';
import type { Scalar } from '@dotrank/core';
import type { AnnGraph, HnswlibModule, HnswParams, ResolvedAnn } from './ann.js';
import { exactSearch } from './exact.js';
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

/**
 * Passage vectors as one contiguous row-major Float32Array (grown by doubling), the passages beside them, an id ->
 * row map, and optionally an HNSW graph over the same rows. A passage indexed again under its id overwrites its row.
 */
export class VectorMatrix {
  private data: Float32Array;
  private rows = 0;
  readonly docs: StoredDoc[] = [];
  private readonly rowOf = new Map<string, number>();
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
  }

  get size(): number {
    return this.rows;
  }

  /** The matrix (rows 0..size-1 are valid). */
  get matrix(): Float32Array {
    return this.data;
  }

  rowOfId(id: string): number | undefined {
    return this.rowOf.get(id);
  }

  /** Adds a passage or overwrites the row of its id; returns the row. */
  put(doc: StoredDoc, vector: Float32Array): number {
    if (vector.length !== this.dimension) {
      throw new ValidationError(
        'vector',
        `passage ${doc.id} has ${vector.length} dimensions, the index ${this.dimension}`,
      );
    }
    let row = this.rowOf.get(doc.id);
    if (row === undefined) {
      row = this.rows++;
      if (this.rows * this.dimension > this.data.length) {
        const grown = new Float32Array(Math.max(this.rows * this.dimension, this.data.length * 2));
        grown.set(this.data);
        this.data = grown;
        this.graph?.setMatrix(grown);
      }
      this.rowOf.set(doc.id, row);
      this.docs.push(doc);
    } else {
      this.docs[row] = doc;
      if (this.graph && row < this.graph.size) {
        if (this.graph instanceof HnswlibIndex) this.dirtyRows.add(row);
        else this.graphStale = true;
      }
    }
    this.data.set(vector, row * this.dimension);
    return row;
  }

  row(row: number): Float32Array {
    return this.data.subarray(row * this.dimension, (row + 1) * this.dimension);
  }

  exact(query: Float32Array, k: number, accept?: (row: number) => boolean): VectorHit[] {
    return exactSearch(this.data, this.dimension, this.rows, query, k, accept);
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
    await write('docs.jsonl', this.docs.map((d) => JSON.stringify(d)).join('\n'));
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
      ...(hnsw ? { hnsw } : {}),
      ...(hnswlib ? { hnswlib } : {}),
      vectorsSha256,
      savedAt: new Date().toISOString(),
    };
    await write(MANIFEST, `${JSON.stringify(manifest, null, 2)}\n`);
    // An hnswlib file the manifest no longer lists belongs to earlier vectors: never read again, so free its disk.
    if (!hnswlib) await rm(join(dir, HNSWLIB_FILE), { force: true });
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
    lines.forEach((line, row) => {
      const doc = JSON.parse(line) as StoredDoc;
      out.docs.push(doc);
      out.rowOf.set(doc.id, row);
    });
    out.rows = n;
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
