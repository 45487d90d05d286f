import { Cluster, Redis } from 'ioredis';
import { createRequire } from 'node:module';
import { ConfigError, UnavailableError, ValidationError } from '@dotrank/core';
import { decodeVector, encodeVector, VECTOR_DTYPES, type VectorDtype } from './codec.js';
import { modelHash, vectorRedisKey, type VectorKey } from './keys.js';
import { emptyStats, type CacheStats, type VectorEntry, type VectorStore } from './types.js';

// cluster-key-slot (the slot function ioredis itself uses) ships no types
const calculateSlot = createRequire(import.meta.url)('cluster-key-slot') as (key: string) => number;

export interface RedisVectorStoreOptions {
  /** An existing connection (not closed by the store) ... */
  redis?: Redis | Cluster;
  /** ... or a URL the store connects to itself (and closes on close()). */
  url?: string;
  /** Key prefix (DOTRANK_KEY_PREFIX). */
  keyPrefix: string;
  modelId: string;
  revision: string;
  dtype?: VectorDtype;
  /** Expiry of written vectors; 0 or undefined = no expiry. */
  ttlSeconds?: number;
  /** Redis Cluster: batches are split by hash slot (with `url`, connects a Cluster client). */
  cluster?: boolean;
  /** When set, vectors of another dimension are refused on write and treated as misses on read. */
  dimension?: number;
  /** Keys per MGET / values per SET pipeline (default 256). */
  chunkSize?: number;
}

/**
 * One binary value per passage vector, read with pipelined, chunked MGETs and written with pipelined SETs.
 * Standalone Redis: one pipeline per call. Cluster: keys grouped by hash slot, one MGET per slot group.
 */
export class RedisVectorStore implements VectorStore {
  readonly dtype: VectorDtype;
  readonly modelKey: string;
  private readonly redis: Redis | Cluster;
  private readonly owned: boolean;
  private readonly prefix: string;
  private readonly ttl: number;
  private readonly cluster: boolean;
  private readonly dimension: number | undefined;
  private readonly chunkSize: number;
  private readonly counters: CacheStats = emptyStats();

  constructor(options: RedisVectorStoreOptions) {
    this.dtype = options.dtype ?? 'float32';
    if (!VECTOR_DTYPES.includes(this.dtype)) throw new ConfigError('dtype', `must be one of ${VECTOR_DTYPES.join(', ')}`);
    if (!options.keyPrefix) throw new ConfigError('keyPrefix', 'must not be empty');
    if (!options.modelId) throw new ConfigError('modelId', 'must not be empty');
    this.ttl = options.ttlSeconds ?? 0;
    if (!Number.isInteger(this.ttl) || this.ttl < 0) throw new ConfigError('ttlSeconds', 'must be an integer >= 0');
    this.chunkSize = options.chunkSize ?? 256;
    if (!Number.isInteger(this.chunkSize) || this.chunkSize < 1) throw new ConfigError('chunkSize', 'must be an integer >= 1');
    this.prefix = options.keyPrefix;
    this.dimension = options.dimension;
    this.modelKey = modelHash(options.modelId, options.revision, this.dtype);
    if (options.redis) {
      this.redis = options.redis;
      this.owned = false;
      this.cluster = options.cluster ?? options.redis instanceof Cluster;
    } else if (options.url) {
      this.cluster = options.cluster ?? false;
      this.redis = this.cluster
        ? new Cluster([options.url], { lazyConnect: false })
        : new Redis(options.url, { maxRetriesPerRequest: 3 });
      this.owned = true;
      // connection errors surface through getMany/setMany as UnavailableError; no unhandled 'error' events
      this.redis.on('error', () => undefined);
    } else {
      throw new ConfigError('redis', 'pass a connection or a url (REDIS_URL)');
    }
  }

  /** The Redis key of one passage vector (exposed for tests and tooling). */
  keyFor(key: VectorKey): string {
    return vectorRedisKey(this.prefix, this.modelKey, key);
  }

  async getMany(keys: VectorKey[]): Promise<(Float32Array | undefined)[]> {
    const out: (Float32Array | undefined)[] = new Array(keys.length).fill(undefined);
    if (keys.length === 0) return out;
    const redisKeys = keys.map((k) => this.keyFor(k));
    const groups = this.groups(redisKeys.map((_, i) => i), redisKeys);
    let values: { index: number; value: Buffer | null }[];
    try {
      values = this.cluster ? await this.readCluster(groups, redisKeys) : await this.readPipelined(groups, redisKeys);
    } catch (error) {
      throw new UnavailableError('redis', `vector cache read failed: ${(error as Error).message}`, { cause: error });
    }
    for (const { index, value } of values) {
      if (!value) {
        this.counters.misses++;
        continue;
      }
      this.counters.bytesRead += value.length;
      const decoded = decodeVector(value, { dtype: this.dtype, dimension: this.dimension });
      if ('vector' in decoded) {
        out[index] = decoded.vector;
        this.counters.hits++;
      } else {
        this.counters.rejected++;
        this.counters.misses++;
      }
    }
    return out;
  }

  private groups(indices: number[], redisKeys: string[]): number[][] {
    const chunks: number[][] = [];
    if (!this.cluster) {
      for (let i = 0; i < indices.length; i += this.chunkSize) chunks.push(indices.slice(i, i + this.chunkSize));
      return chunks;
    }
    const bySlot = new Map<number, number[]>();
    for (const i of indices) {
      const slot = calculateSlot(redisKeys[i]!);
      let list = bySlot.get(slot);
      if (!list) bySlot.set(slot, (list = []));
      list.push(i);
    }
    for (const list of bySlot.values()) {
      for (let i = 0; i < list.length; i += this.chunkSize) chunks.push(list.slice(i, i + this.chunkSize));
    }
    return chunks;
  }

  private async readPipelined(groups: number[][], redisKeys: string[]) {
    const pipeline = this.redis.pipeline();
    for (const group of groups) pipeline.mgetBuffer(group.map((i) => redisKeys[i]!));
    const results = (await pipeline.exec()) ?? [];
    const values: { index: number; value: Buffer | null }[] = [];
    groups.forEach((group, g) => {
      const [error, res] = results[g] ?? [new Error('no reply'), null];
      if (error) throw error;
      const list = res as (Buffer | null)[];
      group.forEach((index, j) => values.push({ index, value: list[j] ?? null }));
    });
    return values;
  }

  private async readCluster(groups: number[][], redisKeys: string[]) {
    // each group is one slot: ioredis routes every MGET to the node owning it; they run concurrently.
    const replies = await Promise.all(groups.map((group) => this.redis.mgetBuffer(group.map((i) => redisKeys[i]!))));
    const values: { index: number; value: Buffer | null }[] = [];
    groups.forEach((group, g) => group.forEach((index, j) => values.push({ index, value: replies[g]![j] ?? null })));
    return values;
  }

  async setMany(entries: VectorEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const encoded = entries.map(({ key, vector }) => {
      if (this.dimension !== undefined && vector.length !== this.dimension) {
        throw new ValidationError('vector', `dimension ${vector.length}, expected ${this.dimension} (passage ${key.id})`);
      }
      return { redisKey: this.keyFor(key), value: encodeVector(vector, this.dtype) };
    });
    const groups = this.groups(encoded.map((_, i) => i), encoded.map((e) => e.redisKey));
    try {
      if (this.cluster) {
        await Promise.all(groups.map((group) => this.writeGroup(group, encoded)));
      } else {
        const pipeline = this.redis.pipeline();
        for (const group of groups) for (const i of group) this.queueSet(pipeline, encoded[i]!);
        const results = (await pipeline.exec()) ?? [];
        for (const [error] of results) if (error) throw error;
      }
    } catch (error) {
      throw new UnavailableError('redis', `vector cache write failed: ${(error as Error).message}`, { cause: error });
    }
    for (const e of encoded) this.counters.bytesWritten += e.value.length;
  }

  private queueSet(pipeline: ReturnType<Redis['pipeline']>, e: { redisKey: string; value: Buffer }): void {
    if (this.ttl > 0) pipeline.set(e.redisKey, e.value, 'EX', this.ttl);
    else pipeline.set(e.redisKey, e.value);
  }

  private async writeGroup(group: number[], encoded: { redisKey: string; value: Buffer }[]): Promise<void> {
    // all keys of a group share one slot, so a cluster pipeline for it stays on one node
    const pipeline = this.redis.pipeline();
    for (const i of group) this.queueSet(pipeline, encoded[i]!);
    const results = (await pipeline.exec()) ?? [];
    for (const [error] of results) if (error) throw error;
  }

  stats(): CacheStats {
    return { ...this.counters };
  }

  async close(): Promise<void> {
    if (this.owned) await this.redis.quit().catch(() => undefined);
  }
}
