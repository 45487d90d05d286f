import { createRequire } from 'node:module';
import { ConfigError, ValidationError } from '@dotrank/core';
import type { VectorHit } from './exact.js';

/**
 * The approximate (HNSW) backends of the dense source:
 * - `hnswlib`: the C++ hnswlib through the optional native package `hnswlib-node` (built by node-gyp at install).
 * - `js`: the package's own typed-array HNSW (`HnswIndex`), always available, slower to build.
 * `auto` (the default) picks `hnswlib` when `hnswlib-node` loads, else `js` with a notice saying why.
 */
export type AnnBackend = 'hnswlib' | 'js';
export type AnnBackendChoice = AnnBackend | 'auto';
export const ANN_BACKENDS: readonly AnnBackendChoice[] = ['auto', 'hnswlib', 'js'];

/** HNSW parameters, shared by both backends. */
export interface HnswParams {
  /** Links per node on the upper levels (default 16; level 0 keeps 2M). */
  M?: number;
  /** Candidate list size while building (default 200). */
  efConstruction?: number;
  /** Candidate list size while searching (default 128; raised to k when smaller). */
  efSearch?: number;
  /** Seed of the level generator (default 42): the same inserts give the same graph. */
  seed?: number;
}

export const HNSW_DEFAULTS = { M: 16, efConstruction: 200, efSearch: 128, seed: 42 } as const;

/** Checks HNSW parameters and fills the defaults; errors name the field (`hnsw.M`, `hnsw.efConstruction`...). */
export function validateHnswParams(params: HnswParams = {}): Required<HnswParams> {
  if (params === null || typeof params !== 'object')
    throw new ValidationError('hnsw', `must be an object (got ${String(params)})`);
  const int = (field: keyof HnswParams, min: number, max: number): number => {
    const value = params[field] ?? HNSW_DEFAULTS[field];
    // M <= 127: the JS backend keeps level-0 link counts (2M) in a Uint8Array; one range for both backends.
    if (!Number.isInteger(value) || value < min || value > max)
      throw new ValidationError(`hnsw.${field}`, `must be an integer from ${min} to ${max} (got ${String(value)})`);
    return value;
  };
  return {
    M: int('M', 2, 127),
    efConstruction: int('efConstruction', 1, 100_000),
    efSearch: int('efSearch', 1, 100_000),
    seed: int('seed', 0, 0xffffffff),
  };
}

/** What VectorMatrix and DenseSource need of an HNSW index over the rows of the matrix, whatever the backend. */
export interface AnnGraph {
  readonly backend: AnnBackend;
  readonly M: number;
  readonly efConstruction: number;
  efSearch: number;
  readonly seed: number;
  /** Rows 0..size-1 of the matrix are in the graph. */
  readonly size: number;
  /** Adds the next matrix row (rows are added in order 0, 1, 2...). */
  add(row: number): void;
  /** The approximate top-k rows by inner product, best first; `score` is the inner product. */
  search(query: Float32Array, k: number, ef?: number): VectorHit[];
  /** Points the index at a (grown) matrix holding the same rows plus new ones. */
  setMatrix(matrix: Float32Array): void;
  /** Bytes the index holds beside the shared matrix (JS: links; hnswlib: links plus its own copy of each vector). */
  memoryBytes(): number;
}

/** The subset of hnswlib-node 3.0's `HierarchicalNSW` used here (typed locally: the package is optional). */
export interface HnswlibNative {
  initIndex(opts: {
    maxElements: number;
    m?: number;
    efConstruction?: number;
    randomSeed?: number;
    allowReplaceDeleted?: boolean;
  }): void;
  readIndex(filename: string, allowReplaceDeleted?: boolean): Promise<boolean>;
  writeIndex(filename: string): Promise<boolean>;
  resizeIndex(newMaxElements: number): void;
  /** Needs a plain Array: the addon checks `IsArray()`, which a Float32Array fails. */
  addPoint(point: number[], label: number, replaceDeleted?: boolean): void;
  searchKnn(queryPoint: number[], numNeighbors: number): { distances: number[]; neighbors: number[] };
  getMaxElements(): number;
  getCurrentCount(): number;
  getNumDimensions(): number;
  getEf(): number;
  setEf(ef: number): void;
}

export interface HnswlibModule {
  HierarchicalNSW: new (spaceName: 'ip', numDimensions: number) => HnswlibNative;
}

/** Loads the hnswlib-node module (throws when it is not installed or its native build is missing). */
export type HnswlibLoader = () => HnswlibModule;

const require = createRequire(import.meta.url);

/** The default loader: `require('hnswlib-node')`, resolved lazily so that the package stays optional. */
export const loadHnswlib: HnswlibLoader = () => require('hnswlib-node') as HnswlibModule;

/** The backend a dense source uses, and why when it is not the one asked for. */
export type ResolvedAnn =
  { backend: 'hnswlib'; module: HnswlibModule; reason?: string } | { backend: 'js'; reason?: string };

/**
 * Picks the backend for `choice`: `js` as asked; `hnswlib` when the module loads, else ConfigError('annBackend');
 * `auto`: `hnswlib` when the module loads, else `js` with the load error as `reason`.
 */
export function resolveAnnBackend(choice: AnnBackendChoice = 'auto', loader: HnswlibLoader = loadHnswlib): ResolvedAnn {
  if (!ANN_BACKENDS.includes(choice))
    throw new ValidationError(
      'annBackend',
      `must be one of ${ANN_BACKENDS.join(', ')} (got ${JSON.stringify(choice)})`,
    );
  if (choice === 'js') return { backend: 'js' };
  let module: HnswlibModule;
  try {
    module = loader();
    if (typeof module?.HierarchicalNSW !== 'function') throw new Error('the module has no HierarchicalNSW class');
  } catch (error) {
    const why = (error instanceof Error ? error.message : String(error)).split('\n')[0];
    if (choice === 'hnswlib') {
      throw new ConfigError(
        'annBackend',
        `"hnswlib" needs the optional package hnswlib-node, which did not load (${why}). Install it with a C++ toolchain present ` +
          `(g++, make, python3: npm install, or npm rebuild hnswlib-node), or choose annBackend "js" (DOTRANK_ANN_BACKEND=js)`,
        { cause: error },
      );
    }
    return {
      backend: 'js',
      reason: `hnswlib-node did not load (${why}); using the built-in JS HNSW (same results, much slower to build)`,
    };
  }
  return { backend: 'hnswlib', module };
}
