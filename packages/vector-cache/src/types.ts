import type { VectorKey } from './keys.js';

export interface CacheStats {
  hits: number;
  misses: number;
  /** Values found but refused by the decoder (foreign format, other dtype, wrong dimension); counted as misses too. */
  rejected: number;
  bytesRead: number;
  bytesWritten: number;
  /** Entries held (memory store only). */
  entries?: number;
  /** Entries dropped by the size bound (memory store only). */
  evictions?: number;
}

export interface VectorEntry {
  key: VectorKey;
  vector: Float32Array;
}

/** A passage-vector cache keyed by passage id + text (+ model, inside the store). */
export interface VectorStore {
  /** One slot per key, in order: the vector, or undefined for a miss. */
  getMany(keys: VectorKey[]): Promise<(Float32Array | undefined)[]>;
  setMany(entries: VectorEntry[]): Promise<void>;
  stats(): CacheStats;
  close(): Promise<void>;
}

export function emptyStats(): CacheStats {
  return { hits: 0, misses: 0, rejected: 0, bytesRead: 0, bytesWritten: 0 };
}
