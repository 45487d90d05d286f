import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { deleteKeysWithPrefix, redisUrlForTests, uniquePrefix } from '@dotrank/core/testing';
import { loadEncoder, type Encoder, type EncoderOptions } from '../src/encoder.js';
import { QueryVectorLru, queryCacheKey, redisQueryVectors } from '../src/query-cache.js';
import { maxAbsDiff, tinyDir } from './helpers.js';
import { planQueryCalls, DEFAULT_CALL_OVERHEAD_TOKENS } from '../src/query-calls.js';

const prefix = uniquePrefix('qcache');
let redis: Redis;
const encoders: Encoder[] = [];

async function open(options: EncoderOptions): Promise<Encoder> {
  const encoder = await loadEncoder(tinyDir, { intraOpThreads: 1, ...options });
  encoders.push(encoder);
  return encoder;
}

beforeAll(() => {
  redis = new Redis(redisUrlForTests());
});
afterAll(async () => {
  await Promise.all(encoders.map((e) => e.close()));
  await deleteKeysWithPrefix(redis, prefix);
  await redis.quit();
});

describe('query-vector cache', () => {
  it('keys by token ids: texts that tokenize the same share one entry; a cached vector equals a fresh encoding', async () => {
    const plain = await open({});
    const cached = await open({ queryCacheSize: 100 });
    const [fresh] = await plain.encodeQueries(['boundary layer transition']);
    // the uncased tokenizer drops case and extra spaces: the same ids, so the same entry
    expect(cached.tokenize(['  Boundary LAYER   transition '], 'query')).toEqual(
      cached.tokenize(['boundary layer transition'], 'query'),
    );
    const [first] = await cached.encodeQueries(['boundary layer transition']);
    const [second] = await cached.encodeQueries(['  Boundary LAYER   transition ']);
    expect(cached.queryCacheStats()).toEqual({ hits: 1, sharedHits: 0, misses: 1 });
    expect(maxAbsDiff(first!, fresh!)).toBeLessThan(1e-6);
    expect(Array.from(second!)).toEqual(Array.from(first!));
    // each caller has its own copy: changing it leaves the cache as it was
    second!.fill(0);
    const [third] = await cached.encodeQueries(['boundary layer transition']);
    expect(Array.from(third!)).toEqual(Array.from(first!));
    const [other] = await cached.encodeQueries(['shock wave']);
    expect(maxAbsDiff(other!, first!)).toBeGreaterThan(1e-3);
    expect(cached.queryCacheStats().misses).toBe(2);
  });

  it('never shares a vector across model revisions', () => {
    const ids = [101, 2000, 102];
    expect(queryCacheKey('m', 'r1', ids)).toBe(queryCacheKey('m', 'r1', [...ids]));
    expect(queryCacheKey('m', 'r2', ids)).not.toBe(queryCacheKey('m', 'r1', ids));
    expect(queryCacheKey('other', 'r1', ids)).not.toBe(queryCacheKey('m', 'r1', ids));
    expect(queryCacheKey('m', 'r1', [101, 2000, 2001, 102])).not.toBe(queryCacheKey('m', 'r1', ids));
  });

  it('evicts the least recently used entry', () => {
    const lru = new QueryVectorLru(2);
    const v = (x: number) => Float32Array.of(x);
    lru.set('a', v(1));
    lru.set('b', v(2));
    expect(lru.get('a')).toEqual(v(1)); // a is now the most recent
    lru.set('c', v(3));
    expect(lru.get('b')).toBeUndefined();
    expect(lru.get('a')).toEqual(v(1));
    expect(lru.get('c')).toEqual(v(3));
    expect(lru.size).toBe(2);
  });

  it('an LRU of size 1 re-encodes a query pushed out by another', async () => {
    const encoder = await open({ queryCacheSize: 1 });
    await encoder.encodeQueries(['alpha']);
    await encoder.encodeQueries(['beta']);
    await encoder.encodeQueries(['alpha']);
    expect(encoder.queryCacheStats()).toEqual({ hits: 0, sharedHits: 0, misses: 3 });
  });

  it('shares vectors between two processes through Redis, under the key prefix, with the TTL', async () => {
    const shared = (dimension: number) => redisQueryVectors(redis, { keyPrefix: prefix, ttlSeconds: 60, dimension });
    const a = await open({ queryCacheSize: 10, sharedQueryVectors: shared });
    const b = await open({ queryCacheSize: 10, sharedQueryVectors: shared });
    const [fromA] = await a.encodeQueries(['supersonic flow over a wedge']);
    // the write is not awaited by the encoder: wait until it lands
    const key = `${prefix}:qvec:${queryCacheKey(a.modelId, a.revision, a.tokenize(['supersonic flow over a wedge'], 'query')[0]!)}`;
    for (let i = 0; i < 50 && !(await redis.exists(key)); i++) await new Promise((r) => setTimeout(r, 10));
    expect(await redis.ttl(key)).toBeGreaterThan(0);
    const [fromB] = await b.encodeQueries(['supersonic flow over a wedge']);
    expect(b.queryCacheStats()).toEqual({ hits: 0, sharedHits: 1, misses: 0 });
    expect(Array.from(fromB!)).toEqual(Array.from(fromA!));
  });

  it('a shared tier that fails or holds a wrong-sized value is a miss, never an error', async () => {
    const errors: unknown[] = [];
    const broken = redisQueryVectors(
      {
        getBuffer: () => Promise.reject(new Error('connection lost')),
        set: () => Promise.reject(new Error('connection lost')),
        setex: () => Promise.reject(new Error('connection lost')),
      },
      { keyPrefix: prefix, ttlSeconds: 0, dimension: 4, onError: (e) => errors.push(e) },
    );
    expect(await broken.get('k')).toBeUndefined();
    await broken.set('k', new Float32Array(4));
    expect(errors).toHaveLength(2);
    const tier = redisQueryVectors(redis, { keyPrefix: prefix, ttlSeconds: 0, dimension: 4 });
    await redis.set(`${prefix}:qvec:short`, Buffer.alloc(8));
    expect(await tier.get('short')).toBeUndefined();
    await tier.set('ok', Float32Array.of(1, 2, 3, 4));
    expect(Array.from((await tier.get('ok'))!)).toEqual([1, 2, 3, 4]);
  });
});

describe('batched query encoding', () => {
  it('concurrent queries run as few padded calls and equal one-at-a-time encodings', async () => {
    const similar = ['boundary layer flow', 'shock wave angle', 'heat transfer rate', 'wing lift slope'];
    const mixed = [
      'what is the boundary layer',
      'shock',
      'heat transfer to a flat plate in hypersonic flow with a very long query text',
      'buckling of cylinders under axial compression',
      'mach number',
    ];
    const single = await open({});
    const alone = async (qs: string[]) => {
      const out: Float32Array[] = [];
      for (const q of qs) out.push((await single.encodeQueries([q]))[0]!);
      return out;
    };
    const batched = await open({ queryBatch: { maxSize: 16, waitMs: 20 } });
    const calls: { rows: number; width: number; tokens: number }[] = [];
    const target = batched as unknown as { runBatch: (b: number[][]) => Promise<Float32Array[]> };
    const run = target.runBatch.bind(batched);
    target.runBatch = (b) => {
      calls.push({
        rows: b.length,
        width: Math.max(...b.map((r) => r.length)),
        tokens: b.reduce((a, r) => a + r.length, 0),
      });
      return run(b);
    };
    for (const queries of [similar, mixed]) {
      calls.length = 0;
      const one = await alone(queries);
      const together = await Promise.all(queries.map((q) => batched.encodeQueries([q]).then((v) => v[0]!)));
      for (let i = 0; i < queries.length; i++) expect(maxAbsDiff(together[i]!, one[i]!)).toBeLessThan(1e-5);
      expect(calls.reduce((a, c) => a + c.rows, 0)).toBe(queries.length);
      expect(calls.length).toBeLessThan(queries.length);
      // a gathered batch is cut by length at the least cost (a fixed part per call against padding): the calls are
      // the plan of planQueryCalls over the sorted lengths (a fresh encoder: the default fixed part)
      const lengths = batched.tokenize(queries, 'query').map((r) => r.length);
      const plan = planQueryCalls(
        [...lengths].sort((a, b) => a - b),
        DEFAULT_CALL_OVERHEAD_TOKENS,
      );
      expect(calls.map((c) => c.rows)).toEqual(plan);
      if (queries === similar) expect(calls).toHaveLength(1);
    }
    // more than maxSize at once: several calls, same vectors
    const small = await open({ queryBatch: { maxSize: 2, waitMs: 0 } });
    const again = await small.encodeQueries(mixed);
    const one = await alone(mixed);
    for (let i = 0; i < mixed.length; i++) expect(maxAbsDiff(again[i]!, one[i]!)).toBeLessThan(1e-5);
  });

  it('a failing call rejects every query of its batch, and the next batch works', async () => {
    const encoder = await open({ queryBatch: { maxSize: 8, waitMs: 20 } });
    const target = encoder as unknown as { runBatch: (b: number[][]) => Promise<Float32Array[]> };
    const run = target.runBatch.bind(encoder);
    target.runBatch = () => Promise.reject(new Error('boom'));
    const failed = await Promise.allSettled(['a', 'b', 'c'].map((q) => encoder.encodeQueries([q])));
    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    target.runBatch = run;
    const [v] = await encoder.encodeQueries(['a']);
    expect(v!.length).toBe(encoder.dimension);
  });
});
