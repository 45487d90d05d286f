import * as crypto from 'node:crypto';

/**
 * Query vectors by model and token ids. The key is the tokenizer's output, not the text: two texts that tokenize the
 * same (case, accents and spacing the uncased tokenizer drops) share one vector, and a new revision never reads an old
 * one. Two tiers: an LRU in this process, and optionally a store every process shares (Redis, beside the passage
 * vectors), so a query one API process or worker encoded is a hit in all of them.
 */

/** A tier every process shares (see redisQueryVectors); failures must not throw: a shared tier that fails is a miss. */
export interface SharedQueryVectors {
  get(key: string): Promise<Float32Array | undefined>;
  set(key: string, vector: Float32Array): Promise<void>;
}

/** Counts since the encoder was loaded: in-process hits, shared-tier hits, and misses (encoded). */
export interface QueryCacheStats {
  hits: number;
  sharedHits: number;
  misses: number;
}

// one-shot crypto.hash (Node >= 20.12) where it exists
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }).hash;
const sha256 = oneShot
  ? (s: string) => oneShot('sha256', s, 'hex')
  : (s: string) => crypto.createHash('sha256').update(s, 'utf8').digest('hex');

/** 32 hex chars (128 bits) of sha256 over model id, revision and the token ids. */
export function queryCacheKey(modelId: string, revision: string, ids: readonly number[]): string {
  return sha256(`${modelId}\u0000${revision}\u0000${ids.join(',')}`).slice(0, 32);
}

/** A bounded map that forgets the least recently used entry first (Map keeps insertion order; a hit re-inserts). */
export class QueryVectorLru {
  private readonly entries = new Map<string, Float32Array>();

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string): Float32Array | undefined {
    const vector = this.entries.get(key);
    if (vector) {
      this.entries.delete(key);
      this.entries.set(key, vector);
    }
    return vector;
  }

  set(key: string, vector: Float32Array): void {
    if (this.capacity <= 0) return;
    this.entries.delete(key);
    this.entries.set(key, vector);
    while (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
  }
}

/** The few commands of an ioredis client (Redis or Cluster) the shared tier uses: single-key GET / SET only. */
export interface QueryCacheRedis {
  getBuffer(key: string): Promise<Buffer | null>;
  set(key: string, value: Buffer): Promise<unknown>;
  setex(key: string, seconds: number, value: Buffer): Promise<unknown>;
}

export interface RedisQueryVectorsOptions {
  /** DOTRANK_KEY_PREFIX: keys are `<prefix>:qvec:<key>`. */
  keyPrefix: string;
  /** Expiry of written vectors in seconds (DOTRANK_QUERY_CACHE_TTL_SECONDS); 0 = none. */
  ttlSeconds: number;
  /** Vectors of another size are treated as misses. */
  dimension: number;
  /**
   * A read slower than this counts as a miss (default 50 ms): encoding is the fallback, so a slow or absent Redis
   * costs at most this much per miss, never an error.
   */
  readTimeoutMs?: number;
  /** Called on a failed read or write (e.g. to log once); default: ignored. */
  onError?: (error: unknown) => void;
}

/**
 * Query vectors in Redis as raw little-endian float32 bytes, one key each. Every command names one key, so it works
 * on Redis Cluster as it is. The caller owns the connection.
 */
export function redisQueryVectors(redis: QueryCacheRedis, options: RedisQueryVectorsOptions): SharedQueryVectors {
  const bytes = options.dimension * 4;
  const readTimeoutMs = options.readTimeoutMs ?? 50;
  const onError = options.onError ?? (() => undefined);
  const redisKey = (key: string) => `${options.keyPrefix}:qvec:${key}`;
  return {
    async get(key) {
      let timer: NodeJS.Timeout | undefined;
      try {
        const raw = await Promise.race([
          redis.getBuffer(redisKey(key)),
          new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), readTimeoutMs))),
        ]);
        if (!raw || raw.length !== bytes) return undefined;
        // a copy: the reply buffer may sit at an offset that is not a multiple of 4
        return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
      } catch (error) {
        onError(error);
        return undefined;
      } finally {
        clearTimeout(timer);
      }
    },
    async set(key, vector) {
      if (vector.length * 4 !== bytes) return;
      const value = Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength);
      try {
        if (options.ttlSeconds > 0) await redis.setex(redisKey(key), options.ttlSeconds, value);
        else await redis.set(redisKey(key), value);
      } catch (error) {
        onError(error);
      }
    },
  };
}
