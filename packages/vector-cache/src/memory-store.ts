import { ValidationError, dot } from '@dotrank/core';
import { keyTextHash, type VectorKey } from './keys.js';
import { emptyStats, type CacheStats, type ScoredLookup, type VectorEntry, type VectorStore } from './types.js';

export interface MemoryVectorStoreOptions {
  /** Most entries kept (default 100,000). */
  maxEntries?: number;
  /** Most vector bytes kept (float32 payload; default unbounded). */
  maxBytes?: number;
  /** When set, vectors of another dimension are refused. */
  dimension?: number;
}

/**
 * In-process store for the embedded mode: float32 vectors in a Map used as an LRU list (a hit moves the entry to the
 * end; eviction drops from the front). The store holds one model's vectors; keep one store per model.
 */
export class MemoryVectorStore implements VectorStore {
  private readonly entries = new Map<string, Float32Array>();
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly dimension: number | undefined;
  private bytes = 0;
  private counters: CacheStats = { ...emptyStats(), evictions: 0 };

  constructor(options: MemoryVectorStoreOptions = {}) {
    this.maxEntries = options.maxEntries ?? 100_000;
    this.maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
    this.dimension = options.dimension;
    if (!Number.isInteger(this.maxEntries) || this.maxEntries < 1)
      throw new ValidationError('maxEntries', 'must be an integer >= 1');
    if (!(this.maxBytes > 0)) throw new ValidationError('maxBytes', 'must be > 0');
  }

  private static key(k: VectorKey): string {
    return `${k.id}\u0000${keyTextHash(k)}`;
  }

  async getMany(keys: VectorKey[]): Promise<(Float32Array | undefined)[]> {
    // a copy: the caller may change what it gets without touching the cache
    return keys.map((k) => this.lookup(k)?.slice());
  }

  /** Scores the held vectors in place: no copies. */
  async scoreMany(keys: VectorKey[], query: Float32Array | PromiseLike<Float32Array>): Promise<ScoredLookup> {
    const q = await query;
    const scores = new Float64Array(keys.length).fill(Number.NaN);
    const hit = new Uint8Array(keys.length);
    keys.forEach((k, i) => {
      const v = this.lookup(k);
      if (!v) return;
      scores[i] = dot(q, v);
      hit[i] = 1;
    });
    return { scores, hit };
  }

  /** The held vector (refreshed in the LRU order, counted), or undefined. */
  private lookup(k: VectorKey): Float32Array | undefined {
    const key = MemoryVectorStore.key(k);
    const found = this.entries.get(key);
    if (!found) {
      this.counters.misses++;
      return undefined;
    }
    this.entries.delete(key);
    this.entries.set(key, found);
    this.counters.hits++;
    this.counters.bytesRead += found.byteLength;
    return found;
  }

  async setMany(entries: VectorEntry[]): Promise<void> {
    for (const { key: k, vector } of entries) {
      if (this.dimension !== undefined && vector.length !== this.dimension) {
        throw new ValidationError('vector', `dimension ${vector.length}, expected ${this.dimension} (passage ${k.id})`);
      }
      const key = MemoryVectorStore.key(k);
      const old = this.entries.get(key);
      if (old) {
        this.bytes -= old.byteLength;
        this.entries.delete(key);
      }
      const copy = vector.slice();
      this.entries.set(key, copy);
      this.bytes += copy.byteLength;
      this.counters.bytesWritten += copy.byteLength;
      this.evict();
    }
  }

  private evict(): void {
    while (this.entries.size > this.maxEntries || (this.bytes > this.maxBytes && this.entries.size > 0)) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.bytes -= this.entries.get(oldest.value)!.byteLength;
      this.entries.delete(oldest.value);
      this.counters.evictions = (this.counters.evictions ?? 0) + 1;
    }
  }

  stats(): CacheStats {
    return { ...this.counters, entries: this.entries.size };
  }

  async close(): Promise<void> {
    this.entries.clear();
    this.bytes = 0;
  }
}
