import type { Cluster, Redis } from 'ioredis';
import { createRequire } from 'node:module';
import {
  ConfigError,
  DotKernel,
  UnavailableError,
  ValidationError,
  dot,
  type DotrankConfig,
  type RowScorer,
} from '@dotrank/core';
import { decodeVector, decodeVectorInto, encodeVector, VECTOR_DTYPES, type VectorDtype } from './codec.js';
import { createRedisConnection, isCluster } from './connection.js';
import { CLUSTER_VECTOR_BUCKETS, modelHash, vectorRedisKey, type VectorKey } from './keys.js';
import { RedisVectorReader, readerOptionsFromIoredis } from './vector-reader.js';
import { emptyStats, type CacheStats, type ScoredLookup, type VectorEntry, type VectorStore } from './types.js';

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
  /**
   * Redis Cluster: batches are split by hash slot. Default: whether `redis` is a Cluster client, or whether `url`
   * names a cluster (`?cluster=1`, see clusterSeedsFromUrl); true with `url` connects a Cluster client regardless.
   */
  cluster?: boolean;
  /** When set, vectors of another dimension are refused on write and treated as misses on read. */
  dimension?: number;
  /** Keys per MGET / values per SET pipeline (default 256). */
  chunkSize?: number;
  /**
   * Cache writes that fail (Redis full: `OOM` under `noeviction`; or unreachable) do not fail the caller: the vectors
   * are simply not cached (the next job encodes them again), every failure is counted (`stats().writeErrors`), and
   * `report` is called at most once per `intervalMs` (default 60 s) with the failures since its last call, so a full
   * Redis gives one log line a minute, not one per request. Without it, setMany throws UnavailableError.
   */
  writeErrors?: { report: (failed: WriteFailureReport) => void; intervalMs?: number };
  /**
   * Score cache reads through a RedisVectorReader (its own connection, no per-chunk copies) instead of ioredis: the
   * default when `dimension` is set and the connection is plain TCP or a Unix socket (not TLS, Sentinel or Cluster).
   * DOTRANK_CACHE_FAST_READS=0 turns it off.
   */
  fastReads?: boolean;
}

/** What `writeErrors.report` is told: the failed writes since the last report and the latest error. */
export interface WriteFailureReport {
  /** setMany calls that failed since the last report. */
  writes: number;
  /** Vectors they held (not cached). */
  vectors: number;
  /** The latest failure, e.g. `OOM command not allowed when used memory > 'maxmemory'`. */
  error: string;
}

/** How long close() lets QUIT wait for its reply before the socket is simply closed (Redis gone or hung). */
const QUIT_MS = 1000;

/** The Redis store options a process takes from its configuration, for the model that writes and reads the vectors. */
export function vectorStoreOptionsFromConfig(
  config: Pick<
    DotrankConfig,
    | 'REDIS_URL'
    | 'DOTRANK_KEY_PREFIX'
    | 'DOTRANK_CACHE_DTYPE'
    | 'DOTRANK_CACHE_TTL_SECONDS'
    | 'DOTRANK_CACHE_FAST_READS'
  >,
  model: { modelId: string; revision: string; dimension: number },
): RedisVectorStoreOptions {
  if (!config.REDIS_URL) throw new ConfigError('REDIS_URL', 'must be set for the Redis vector cache');
  return {
    url: config.REDIS_URL,
    keyPrefix: config.DOTRANK_KEY_PREFIX,
    modelId: model.modelId,
    revision: model.revision,
    dtype: config.DOTRANK_CACHE_DTYPE,
    ttlSeconds: config.DOTRANK_CACHE_TTL_SECONDS,
    dimension: model.dimension,
    fastReads: config.DOTRANK_CACHE_FAST_READS,
  };
}

/**
 * One binary value per passage vector, read with pipelined, chunked MGETs and written with pipelined SETs.
 * Standalone Redis: one pipeline per call. Cluster: keys grouped by hash slot, one MGET per slot group.
 */
/** How often a cluster read follows a MOVED or ASK answer before it fails (each time on a fresh slot map). */
const CLUSTER_REDIRECTIONS = 3;

/**
 * Runs a cluster command, following MOVED / ASK answers itself. ioredis follows them for a lone command and for a
 * pipeline whose commands all moved alike, but not for an auto-pipelined batch that mixes slots: after a failover
 * such a batch returned "MOVED <slot> <node>" to the caller (seen in the cluster test). The slot map is refreshed and
 * the command sent again, at most CLUSTER_REDIRECTIONS times.
 */
async function followingRedirections<T>(cluster: Cluster, command: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await command();
    } catch (error) {
      if (attempt >= CLUSTER_REDIRECTIONS || !/^(MOVED|ASK) /.test((error as Error).message ?? '')) throw error;
      await new Promise<void>((resolve) => cluster.refreshSlotsCache(() => resolve()));
    }
  }
}

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
  private readonly reader: RedisVectorReader | undefined;
  /**
   * Why the fast reader is not used although it was asked for (`fastReads`, the default), e.g. on a Redis Cluster;
   * undefined when it is used or was turned off. Worth one log line at start.
   */
  readonly fastReadsOff: string | undefined;
  /** Row scorers (each a matrix of decoded vectors and the dot kernel), one per job scored at once; reused. */
  private readonly scorers: RowScorer[] = [];
  private readonly writeErrors: RedisVectorStoreOptions['writeErrors'];
  /** Failures not reported yet, and when the last report went out. */
  private unreported = { writes: 0, vectors: 0, reportedAt: -Infinity };

  constructor(options: RedisVectorStoreOptions) {
    this.dtype = options.dtype ?? 'float32';
    if (!VECTOR_DTYPES.includes(this.dtype))
      throw new ConfigError('dtype', `must be one of ${VECTOR_DTYPES.join(', ')}`);
    if (!options.keyPrefix) throw new ConfigError('keyPrefix', 'must not be empty');
    if (!options.modelId) throw new ConfigError('modelId', 'must not be empty');
    this.ttl = options.ttlSeconds ?? 0;
    if (!Number.isInteger(this.ttl) || this.ttl < 0) throw new ConfigError('ttlSeconds', 'must be an integer >= 0');
    this.chunkSize = options.chunkSize ?? 256;
    if (!Number.isInteger(this.chunkSize) || this.chunkSize < 1)
      throw new ConfigError('chunkSize', 'must be an integer >= 1');
    this.prefix = options.keyPrefix;
    this.writeErrors = options.writeErrors;
    this.dimension = options.dimension;
    this.modelKey = modelHash(options.modelId, options.revision, this.dtype);
    if (options.redis) {
      this.redis = options.redis;
      this.owned = false;
      this.cluster = options.cluster ?? isCluster(options.redis);
    } else if (options.url) {
      // connection errors surface through getMany/setMany as UnavailableError; `?cluster=1` in the URL (or
      // REDIS_CLUSTER_NODES) makes this a Cluster client
      this.redis = createRedisConnection(options.url, {
        autoPipelining: true,
        ...(options.cluster ? { cluster: true } : {}),
      });
      this.cluster = isCluster(this.redis);
      this.owned = true;
    } else {
      throw new ConfigError('redis', 'pass a connection or a url (REDIS_URL)');
    }
    if ((options.fastReads ?? true) && this.dimension !== undefined) {
      if (this.cluster) {
        this.fastReadsOff = 'Redis Cluster: the fast reader speaks to one server; reads go through ioredis, per slot';
      } else {
        const readerOptions = readerOptionsFromIoredis(
          (this.redis as Redis).options as unknown as Record<string, unknown>,
        );
        if ('unsupported' in readerOptions)
          this.fastReadsOff = `${readerOptions.unsupported}: reads go through ioredis`;
        else this.reader = new RedisVectorReader(readerOptions);
      }
    }
  }

  /** Whether cache reads for scoring go through the fast reader (see `fastReads`). */
  get fastReads(): boolean {
    return this.reader !== undefined;
  }

  /** The Redis key of one passage vector (exposed for tests and tooling). */
  keyFor(key: VectorKey): string {
    return vectorRedisKey(this.prefix, this.modelKey, key, this.cluster ? CLUSTER_VECTOR_BUCKETS : undefined);
  }

  async getMany(keys: VectorKey[]): Promise<(Float32Array | undefined)[]> {
    const out: (Float32Array | undefined)[] = new Array(keys.length).fill(undefined);
    this.decodeEach(keys, await this.read(keys), (index, value) => {
      const decoded = decodeVector(value, { dtype: this.dtype, dimension: this.dimension });
      if (!('vector' in decoded)) return false;
      out[index] = decoded.vector;
      return true;
    });
    return out;
  }

  /**
   * The rerank read: each cached value is decoded into one reused scratch vector and scored at once, so a
   * 1,000-candidate job allocates no vectors at all (3 MB of fresh Float32Arrays per job kept the GC and the page
   * allocator busy while the query was encoding on the same cores).
   */
  async scoreMany(keys: VectorKey[], query: Float32Array | PromiseLike<Float32Array>): Promise<ScoredLookup> {
    if (this.reader) return this.scoreManyFast(this.reader, keys, query);
    const [replies, q] = await Promise.all([this.read(keys), query]);
    if (this.dimension !== undefined && q.length !== this.dimension) {
      throw new ValidationError('query', `dimension ${q.length}, expected ${this.dimension}`);
    }
    const scores = new Float64Array(keys.length).fill(Number.NaN);
    const hit = new Uint8Array(keys.length);
    const scratch = new Float32Array(q.length);
    const expected = { dtype: this.dtype, dimension: q.length };
    this.decodeEach(keys, replies, (index, value) => {
      if ('rejected' in decodeVectorInto(value, scratch, 0, expected)) return false;
      scores[index] = dot(q, scratch);
      hit[index] = 1;
      return true;
    });
    return { scores, hit };
  }

  /**
   * scoreMany through the fast reader: each value is decoded straight from the socket's read buffer into its row of a
   * reused matrix (int8 values dequantized by the kernel), and scored at once by the dot kernel (DotKernel: WebAssembly
   * SIMD, the scores of `dot` bit for bit) when the query is there; rows that arrive before it are scored together
   * once it comes.
   */
  private async scoreManyFast(
    reader: RedisVectorReader,
    keys: VectorKey[],
    query: Float32Array | PromiseLike<Float32Array>,
  ): Promise<ScoredLookup> {
    const dim = this.dimension!;
    const n = keys.length;
    const scores = new Float64Array(n).fill(Number.NaN);
    // 0 miss, 1 scored, 2 decoded, waiting for the query
    const state = new Uint8Array(n);
    let waiting = 0;
    let q: Float32Array | undefined;
    const scorer = this.scorers.pop() ?? DotKernel.create();
    const matrix = scorer.reserve(dim, n);
    const queryReady = Promise.resolve(query).then((v) => {
      if (v.length !== dim) throw new ValidationError('query', `dimension ${v.length}, expected ${dim}`);
      scorer.setQuery(v);
      q = v;
      return v;
    });
    queryReady.catch(() => undefined); // awaited below, after the read
    const expected = { dtype: this.dtype, dimension: dim };
    const redisKeys = keys.map((k) => this.keyFor(k));
    const reads: Promise<void>[] = [];
    try {
      try {
        for (let start = 0; start < n; start += this.chunkSize) {
          const chunk = redisKeys.slice(start, start + this.chunkSize);
          reads.push(
            reader.mget(chunk, (j, found) =>
              this.tally(found, (value) => {
                const i = start + j;
                if ('rejected' in decodeVectorInto(value, matrix, i * dim, expected, scorer)) return false;
                if (q) {
                  scores[i] = scorer.scoreRow(i);
                  state[i] = 1;
                } else {
                  state[i] = 2;
                  waiting++;
                }
                return true;
              }),
            ),
          );
        }
        await Promise.all(reads);
      } catch (error) {
        await Promise.allSettled(reads);
        throw new UnavailableError('redis', `vector cache read failed: ${(error as Error).message}`, {
          cause: error,
        });
      }
      await queryReady;
      if (waiting > 0) {
        // every row at once (a row scored already scores the same again); misses stay NaN
        scorer.scoreRows(n, scores);
        for (let i = 0; i < n; i++) {
          if (state[i] === 0) scores[i] = Number.NaN;
          else state[i] = 1;
        }
      }
    } finally {
      // one per concurrent job, kept: a fresh multi-MB matrix per job costs page faults on every job
      if (this.scorers.length < 4) this.scorers.push(scorer);
    }
    return { scores, hit: state };
  }

  /** MGETs for all keys; one reply list per group, groups in key order (see groups()). */
  private async read(keys: VectorKey[]): Promise<{ groups: number[][]; replies: (Buffer | null)[][] }> {
    if (keys.length === 0) return { groups: [], replies: [] };
    const redisKeys = keys.map((k) => this.keyFor(k));
    const groups = this.groups(
      redisKeys.map((_, i) => i),
      redisKeys,
    );
    try {
      const replies = this.cluster
        ? await this.readCluster(groups, redisKeys)
        : await this.readPipelined(groups, redisKeys);
      return { groups, replies };
    } catch (error) {
      throw new UnavailableError('redis', `vector cache read failed: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Calls `use` for every stored value; counts hits, misses, refused values and bytes. */
  private decodeEach(
    keys: VectorKey[],
    { groups, replies }: { groups: number[][]; replies: (Buffer | null)[][] },
    use: (index: number, value: Buffer) => boolean,
  ): void {
    let seen = 0;
    for (let g = 0; g < groups.length; g++) {
      const group = groups[g]!;
      const list = replies[g]!;
      for (let j = 0; j < group.length; j++) {
        seen++;
        const index = group[j]!;
        this.tally(list[j], (value) => use(index, value));
      }
    }
    if (seen !== keys.length)
      throw new UnavailableError('redis', `vector cache read returned ${seen} values for ${keys.length} keys`);
  }

  /** Counts one stored value (or its absence) in the stats; `use` decodes it and says whether it was accepted. */
  private tally<V extends Uint8Array>(value: V | null | undefined, use: (value: V) => boolean): void {
    if (!value) {
      this.counters.misses++;
      return;
    }
    this.counters.bytesRead += value.length;
    if (use(value)) {
      this.counters.hits++;
    } else {
      this.counters.rejected++;
      this.counters.misses++;
    }
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

  /** One reply list per group, in group order. */
  private async readPipelined(groups: number[][], redisKeys: string[]): Promise<(Buffer | null)[][]> {
    const pipeline = this.redis.pipeline();
    for (const group of groups) pipeline.mgetBuffer(group.map((i) => redisKeys[i]!));
    const results = (await pipeline.exec()) ?? [];
    return groups.map((group, g) => {
      const [error, res] = results[g] ?? [new Error('no reply'), null];
      if (error) throw error;
      return res as (Buffer | null)[];
    });
  }

  private async readCluster(groups: number[][], redisKeys: string[]): Promise<(Buffer | null)[][]> {
    // each group is one slot: ioredis routes every MGET to the node owning it; they run concurrently (and, on the
    // store's own connection, auto-pipelined: one write per node).
    const cluster = this.redis as Cluster;
    return Promise.all(
      groups.map((group) => followingRedirections(cluster, () => cluster.mgetBuffer(group.map((i) => redisKeys[i]!)))),
    );
  }

  async setMany(entries: VectorEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const encoded = entries.map(({ key, vector }) => {
      if (this.dimension !== undefined && vector.length !== this.dimension) {
        throw new ValidationError(
          'vector',
          `dimension ${vector.length}, expected ${this.dimension} (passage ${key.id})`,
        );
      }
      return { redisKey: this.keyFor(key), value: encodeVector(vector, this.dtype) };
    });
    const groups = this.groups(
      encoded.map((_, i) => i),
      encoded.map((e) => e.redisKey),
    );
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
      const failure = new UnavailableError('redis', `vector cache write failed: ${(error as Error).message}`, {
        cause: error,
      });
      if (!this.writeErrors) throw failure;
      this.writeFailed(entries.length, failure);
      return;
    }
    for (const e of encoded) this.counters.bytesWritten += e.value.length;
  }

  /** Counts a tolerated write failure and reports it, at most once per interval (see `writeErrors`). */
  private writeFailed(vectors: number, failure: Error): void {
    this.counters.writeErrors = (this.counters.writeErrors ?? 0) + 1;
    const pending = this.unreported;
    pending.writes++;
    pending.vectors += vectors;
    const now = performance.now();
    if (now - pending.reportedAt < (this.writeErrors!.intervalMs ?? 60_000)) return;
    const report = { writes: pending.writes, vectors: pending.vectors, error: failure.message };
    this.unreported = { writes: 0, vectors: 0, reportedAt: now };
    this.writeErrors!.report(report);
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

  /** Bounded: a Redis that is gone or does not answer gets its sockets closed after at most a second or so. */
  async close(): Promise<void> {
    const reader = this.reader?.close();
    if (this.owned) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), QUIT_MS)));
      // ioredis' QUIT waits for a reply forever (or queues while reconnecting): past QUIT_MS, drop the socket
      const quit = this.redis.quit().then(
        () => 'ok' as const,
        () => 'failed' as const,
      );
      if ((await Promise.race([quit, late])) !== 'ok') this.redis.disconnect();
      clearTimeout(timer);
    }
    await reader;
  }
}
