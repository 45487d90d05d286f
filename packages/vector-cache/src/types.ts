import { dot } from '@dotrank/core';
import type { VectorKey } from './keys.js';

export interface CacheStats {
  hits: number;
  misses: number;
  /** Values found but refused by the decoder (foreign format, other dtype, wrong dimension); counted as misses too. */
  rejected: number;
  bytesRead: number;
  bytesWritten: number;
  /** Cache writes that failed and were tolerated (Redis store with `writeErrors`). */
  writeErrors?: number;
  /** Entries held (memory store only). */
  entries?: number;
  /** Entries dropped by the size bound (memory store only). */
  evictions?: number;
}

export interface VectorEntry {
  key: VectorKey;
  vector: Float32Array;
}

/**
 * What `scoreMany` returns: per key, in order, the dot product of the query with the cached vector, and whether the
 * cache had one (a miss leaves NaN in `scores` and false in `hit`).
 */
export interface ScoredLookup {
  scores: Float64Array;
  hit: Uint8Array;
}

/** A passage-vector cache keyed by passage id + text (+ model, inside the store). */
export interface VectorStore {
  /** One slot per key, in order: the vector, or undefined for a miss. */
  getMany(keys: VectorKey[]): Promise<(Float32Array | undefined)[]>;
  /**
   * Reads the cached vectors of `keys` and scores them against `query` (dot product) without keeping them: the read
   * starts at once, the query may still be encoding (pass its promise). A store that lacks it is used through
   * getMany (see `scoreCached`).
   */
  scoreMany?(keys: VectorKey[], query: Float32Array | PromiseLike<Float32Array>): Promise<ScoredLookup>;
  setMany(entries: VectorEntry[]): Promise<void>;
  stats(): CacheStats;
  close(): Promise<void>;
}

export function emptyStats(): CacheStats {
  return { hits: 0, misses: 0, rejected: 0, bytesRead: 0, bytesWritten: 0 };
}

/** `store.scoreMany` where the store has it, else getMany + dot: one call for the rerank step. */
export async function scoreCached(
  store: VectorStore,
  keys: VectorKey[],
  query: Float32Array | PromiseLike<Float32Array>,
): Promise<ScoredLookup> {
  if (store.scoreMany) return store.scoreMany(keys, query);
  const [vectors, q] = await Promise.all([store.getMany(keys), query]);
  const scores = new Float64Array(keys.length).fill(Number.NaN);
  const hit = new Uint8Array(keys.length);
  for (let i = 0; i < vectors.length; i++) {
    const v = vectors[i];
    if (!v) continue;
    scores[i] = dot(q, v);
    hit[i] = 1;
  }
  return { scores, hit };
}
