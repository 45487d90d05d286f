import { stat } from 'node:fs/promises';
import { ConfigError, ValidationError } from '@dotrank/core';
import { validateHnswParams } from './ann.js';
import type { AnnGraph, HnswlibModule, HnswlibNative, HnswParams } from './ann.js';
import { blockDot } from './exact.js';
import type { VectorHit } from './exact.js';

/** Row `row` of the vectors as a `dim`-long view: for callers whose rows are not one Float32Array (sharded benches). */
export type RowReader = (row: number) => Float32Array;

const readerOf =
  (matrix: Float32Array, dim: number): RowReader =>
  (row) =>
    matrix.subarray(row * dim, (row + 1) * dim);

/**
 * The `hnswlib` backend: hnswlib's C++ HNSW (through the optional native package hnswlib-node) in inner-product
 * space ('ip', distance = 1 - dot), labels = matrix rows. hnswlib keeps its own copy of each vector (it cannot
 * read the JS matrix), so the index costs dim x 4 bytes per vector beside its links; the matrix stays the source
 * of truth: exact search, filters and the scores returned here all read it.
 */
export class HnswlibIndex implements AnnGraph {
  readonly backend = 'hnswlib' as const;
  readonly dim: number;
  readonly M: number;
  readonly efConstruction: number;
  efSearch: number;
  readonly seed: number;
  private readonly native: HnswlibNative;
  private rowOf: RowReader;
  private count = 0;
  private nativeEf: number;
  /** One reused plain array per conversion: addPoint/searchKnn accept only Arrays (the addon checks IsArray). */
  private readonly point: number[];
  private readonly scratch = new Float64Array(1);

  /** `matrix`: the row-major matrix the rows are read from (or a RowReader); `capacity`: rows allocated up front. */
  constructor(
    module: HnswlibModule,
    dim: number,
    matrix: Float32Array | RowReader,
    params: HnswParams = {},
    capacity = 1024,
  ) {
    const p = validateHnswParams(params);
    this.dim = dim;
    this.M = p.M;
    this.efConstruction = p.efConstruction;
    this.efSearch = p.efSearch;
    this.seed = p.seed;
    this.rowOf = typeof matrix === 'function' ? matrix : readerOf(matrix, dim);
    this.point = new Array<number>(dim).fill(0);
    this.native = new module.HierarchicalNSW('ip', dim);
    this.native.initIndex({
      maxElements: Math.max(1, capacity),
      m: p.M,
      efConstruction: p.efConstruction,
      randomSeed: p.seed,
    });
    this.nativeEf = p.efSearch;
    this.native.setEf(p.efSearch);
  }

  get size(): number {
    return this.count;
  }

  setMatrix(matrix: Float32Array): void {
    this.rowOf = readerOf(matrix, this.dim);
  }

  private rowPoint(row: number): number[] {
    const v = this.rowOf(row);
    if (v.length !== this.dim) throw new ValidationError('row', `row ${row} is outside the matrix`);
    for (let j = 0; j < this.dim; j++) this.point[j] = v[j]!;
    return this.point;
  }

  add(row: number): void {
    if (row !== this.count)
      throw new ValidationError('row', `HNSW rows are added in order (expected ${this.count}, got ${row})`);
    const point = this.rowPoint(row);
    const max = this.native.getMaxElements();
    if (row >= max) this.native.resizeIndex(Math.max(row + 1, max * 2));
    this.native.addPoint(point, row);
    this.count++;
  }

  /** Re-inserts an overwritten row: hnswlib replaces the vector of that label and repairs its links in place. */
  update(row: number): void {
    if (!Number.isInteger(row) || row < 0 || row >= this.count)
      throw new ValidationError('row', `row ${row} is not in the index (size ${this.count})`);
    this.native.addPoint(this.rowPoint(row), row);
  }

  search(query: Float32Array, k: number, ef: number = this.efSearch): VectorHit[] {
    if (query.length !== this.dim)
      throw new ValidationError('query', `vector has ${query.length} dimensions, the index ${this.dim}`);
    if (this.count === 0 || k < 1) return [];
    const n = Math.min(k, this.count); // hnswlib refuses k > maxElements
    const wanted = Math.max(ef, n);
    if (wanted !== this.nativeEf) {
      this.native.setEf(wanted);
      this.nativeEf = wanted;
    }
    for (let j = 0; j < this.dim; j++) this.point[j] = query[j]!;
    const { neighbors } = this.native.searchKnn(this.point, n);
    // Scores from the matrix with exactSearch's arithmetic (not hnswlib's float32 1 - distance): the same passage
    // scores the same in exact and approximate mode, which fusion and tests rely on. k x dim multiply-adds: cheap.
    const hits: VectorHit[] = neighbors.map((row) => {
      blockDot(this.rowOf(row), this.dim, 0, 1, query, this.scratch);
      return { row, score: this.scratch[0]! };
    });
    hits.sort((a, b) => b.score - a.score || a.row - b.row);
    return hits;
  }

  /**
   * Estimated native bytes (hnswlib 0.8 layout): per allocated element its vector, level-0 links (2M + 1 ints) and
   * label (8 B), plus upper-level links (M + 1 ints per level, 1/(M-1) levels on average) and ~100 B of per-element
   * lock and label-map overhead. The benchmark measures the real figure (file size, RSS).
   */
  memoryBytes(): number {
    const perElement = this.dim * 4 + (2 * this.M + 1) * 4 + 8 + 100;
    const upper = ((this.M + 1) * 4) / (this.M - 1);
    return Math.round(this.native.getMaxElements() * perElement + this.count * upper);
  }

  /** Writes hnswlib's index file (hnswlib's own format: links, vectors, labels; no JS-side state is needed). */
  async save(file: string): Promise<void> {
    await this.native.writeIndex(file);
  }

  /**
   * Reads a file written by `save` for `count` rows of `matrix`. The caller checks that the matrix is the one the
   * file was built over (dense.json's vectors fingerprint); here the file's own dimension and count are checked.
   */
  static async load(
    module: HnswlibModule,
    file: string,
    expected: { dim: number; count: number; bytes?: number; params: HnswParams },
    matrix: Float32Array | RowReader,
  ): Promise<HnswlibIndex> {
    if (expected.bytes !== undefined) {
      const size = (await stat(file)).size;
      if (size !== expected.bytes)
        throw new ConfigError('dir', `${file} has ${size} bytes, expected ${expected.bytes}`);
    }
    const index = new HnswlibIndex(module, expected.dim, matrix, expected.params, 1);
    await index.native.readIndex(file);
    const dim = index.native.getNumDimensions();
    const count = index.native.getCurrentCount();
    if (dim !== expected.dim || count !== expected.count) {
      throw new ConfigError(
        'dir',
        `${file} holds ${count} vectors of ${dim} dims, expected ${expected.count} of ${expected.dim}`,
      );
    }
    index.count = count;
    index.native.setEf(index.efSearch); // hnswlib resets ef to 10 on load
    index.nativeEf = index.efSearch;
    return index;
  }
}
