import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { redisUrlForTests, uniquePrefix, deleteKeysWithPrefix } from '@dotrank/core/testing';
import { dot } from '@dotrank/core';
import { MemoryVectorStore } from '../src/memory-store.js';
import { RedisVectorStore } from '../src/redis-store.js';
import { encodeVector, type VectorDtype } from '../src/codec.js';
import { scoreCached, type VectorStore } from '../src/types.js';

const prefix = uniquePrefix('vcache');
let redis: Redis;

const deleteOwnKeys = () => deleteKeysWithPrefix(redis, prefix);

function vector(dim: number, seed: number): Float32Array {
  return Float32Array.from({ length: dim }, (_, i) => Math.sin(seed * 7 + i) * 1.5);
}

const store = (opts: Partial<ConstructorParameters<typeof RedisVectorStore>[0]> = {}) =>
  new RedisVectorStore({ redis, keyPrefix: prefix, modelId: 'test/model', revision: 'r1', ...opts });

beforeAll(() => {
  redis = new Redis(redisUrlForTests());
});
afterAll(async () => {
  await deleteOwnKeys();
  await redis.quit();
});

describe('RedisVectorStore (real Redis)', () => {
  it.each([
    ['float32', 0],
    ['float16', 1.5 * 2 ** -11],
    ['int8', 1.5 / 254 + 1e-6],
  ] as [VectorDtype, number][])('round-trips %s within its error bound', async (dtype, bound) => {
    const s = store({ dtype, dimension: 64 });
    const entries = Array.from({ length: 300 }, (_, i) => ({
      key: { id: `p${i}`, text: `text ${i}` },
      vector: vector(64, i),
    }));
    await s.setMany(entries);
    const got = await s.getMany(entries.map((e) => e.key));
    got.forEach((v, i) => {
      expect(v).toBeInstanceOf(Float32Array);
      for (let j = 0; j < 64; j++) expect(Math.abs(v![j]! - entries[i]!.vector[j]!)).toBeLessThanOrEqual(bound);
    });
    expect(s.stats()).toMatchObject({ hits: 300, misses: 0, rejected: 0 });
    expect(s.stats().bytesWritten).toBe(s.stats().bytesRead);
  });

  it('decodes values ioredis hands out at unaligned offsets', async () => {
    // odd-length values make the reply buffer slices start at odd offsets
    const s = store({ dtype: 'float32' });
    const dims = [3, 5, 7, 9, 11];
    const entries = dims.map((d, i) => ({ key: { id: `u${i}`, text: 'u' }, vector: vector(d, i) }));
    await s.setMany(entries);
    const got = await s.getMany(entries.map((e) => e.key));
    got.forEach((v, i) => expect(Array.from(v!)).toEqual(Array.from(entries[i]!.vector)));
  });

  it('misses when the text changed or the model differs', async () => {
    const s = store();
    await s.setMany([{ key: { id: 'x', text: 'original' }, vector: vector(8, 1) }]);
    const [changed] = await s.getMany([{ id: 'x', text: 'edited' }]);
    expect(changed).toBeUndefined();
    const [otherModel] = await store({ revision: 'r2' }).getMany([{ id: 'x', text: 'original' }]);
    expect(otherModel).toBeUndefined();
    const [otherDtype] = await store({ dtype: 'int8' }).getMany([{ id: 'x', text: 'original' }]);
    expect(otherDtype).toBeUndefined();
    const [same] = await s.getMany([{ id: 'x', text: 'original' }]);
    expect(same).toBeDefined();
  });

  it('treats a foreign or wrong-dimension value as a miss and counts it rejected', async () => {
    const s = store({ dimension: 8 });
    const keyA = s.keyFor({ id: 'f', text: 'f' });
    const keyB = s.keyFor({ id: 'g', text: 'g' });
    await redis.set(keyA, 'not a vector');
    await redis.set(keyB, encodeVector(vector(4, 1), 'float32'));
    expect(
      await s.getMany([
        { id: 'f', text: 'f' },
        { id: 'g', text: 'g' },
      ]),
    ).toEqual([undefined, undefined]);
    expect(s.stats()).toMatchObject({ hits: 0, misses: 2, rejected: 2 });
  });

  it('sets a TTL when configured, none otherwise', async () => {
    const withTtl = store({ ttlSeconds: 120 });
    await withTtl.setMany([{ key: { id: 't', text: 't' }, vector: vector(4, 2) }]);
    const ttl = await redis.ttl(withTtl.keyFor({ id: 't', text: 't' }));
    expect(ttl).toBeGreaterThan(100);
    expect(ttl).toBeLessThanOrEqual(120);
    const noTtl = store();
    await noTtl.setMany([{ key: { id: 'n', text: 'n' }, vector: vector(4, 2) }]);
    expect(await redis.ttl(noTtl.keyFor({ id: 'n', text: 'n' }))).toBe(-1);
  });

  it('keys carry prefix, model hash, id and text hash', () => {
    const key = store().keyFor({ id: 'doc-1', text: 'hello' });
    expect(key).toMatch(new RegExp(`^${prefix}:vec:[0-9a-f]{12}:doc-1:[0-9a-f]{16}$`));
  });

  it('reads in chunks across many keys', async () => {
    const s = store({ chunkSize: 7 });
    const entries = Array.from({ length: 50 }, (_, i) => ({ key: { id: `c${i}`, text: 'c' }, vector: vector(4, i) }));
    await s.setMany(entries.filter((_, i) => i % 2 === 0));
    const got = await s.getMany(entries.map((e) => e.key));
    got.forEach((v, i) => (i % 2 === 0 ? expect(v).toBeDefined() : expect(v).toBeUndefined()));
    expect(s.stats()).toMatchObject({ hits: 25, misses: 25 });
  });

  it('fails with a clear error when Redis is unreachable', async () => {
    const dead = new RedisVectorStore({ url: 'redis://127.0.0.1:1', keyPrefix: prefix, modelId: 'm', revision: 'r' });
    await expect(dead.getMany([{ id: 'a', text: 'a' }])).rejects.toThrow(/redis: vector cache read failed/);
    await dead.close();
  });

  it.each(['float32', 'float16', 'int8'] as VectorDtype[])(
    'scoreMany (%s) gives the dot products getMany + dot gives, NaN and no hit for misses',
    async (dtype) => {
      const s = store({ dtype, dimension: 48 });
      const entries = Array.from({ length: 40 }, (_, i) => ({
        key: { id: `s${dtype}${i}`, text: `score ${i}` },
        vector: vector(48, i + 3),
      }));
      await s.setMany(entries.filter((_, i) => i % 3 !== 0));
      const query = vector(48, 99);
      const keys = entries.map((e) => e.key);
      const vectors = await s.getMany(keys);
      // the query may still be encoding: a promise is accepted, there at once (each vector scored as it arrives) or
      // after the read (the vectors wait in the matrix, scored together)
      const later = new Promise<Float32Array>((resolve) => setTimeout(() => resolve(query), 50));
      for (const q of [Promise.resolve(query), later]) {
        const { scores, hit } = await s.scoreMany(keys, q);
        keys.forEach((_, i) => {
          if (i % 3 === 0) {
            expect(hit[i]).toBe(0);
            expect(scores[i]).toBeNaN();
          } else {
            expect(hit[i]).toBe(1);
            expect(scores[i]).toBe(dot(query, vectors[i]!));
          }
        });
      }
      // stats count every read alike
      const stats = s.stats();
      expect(stats.hits).toBe(3 * 26);
      expect(stats.misses).toBe(3 * 14);
    },
  );

  it('scoreMany reads values at unaligned offsets and refuses foreign ones as misses', async () => {
    const s = store({ dtype: 'float32' });
    const entries = [0, 1, 2].map((i) => ({ key: { id: `su${i}`, text: 'su' }, vector: vector(5, i) }));
    await s.setMany(entries);
    await redis.set(s.keyFor({ id: 'odd', text: 'odd' }), Buffer.from('xyz'));
    await redis.set(s.keyFor({ id: 'short', text: 'short' }), encodeVector(vector(3, 1), 'float32'));
    const query = vector(5, 7);
    // the 3-byte value first: the reply slices after it start at odd offsets
    const keys = [{ id: 'odd', text: 'odd' }, ...entries.map((e) => e.key), { id: 'short', text: 'short' }];
    const { scores, hit } = await s.scoreMany(keys, query);
    entries.forEach((e, i) => expect(scores[i + 1]).toBe(dot(query, e.vector)));
    expect(Array.from(hit)).toEqual([0, 1, 1, 1, 0]);
    expect(s.stats()).toMatchObject({ hits: 3, misses: 2, rejected: 2 });
  });

  it('scoreMany refuses a query of another dimension, naming it', async () => {
    const s = store({ dimension: 8 });
    await expect(s.scoreMany([{ id: 'a', text: 'a' }], new Float32Array(4))).rejects.toThrow(
      /query: dimension 4, expected 8/,
    );
  });

  it('scoreCached uses getMany + dot for a store without scoreMany', async () => {
    const inner = new MemoryVectorStore();
    await inner.setMany([{ key: { id: 'a', text: 'a' }, vector: vector(6, 1) }]);
    const plain: VectorStore = {
      getMany: (k) => inner.getMany(k),
      setMany: (e) => inner.setMany(e),
      stats: () => inner.stats(),
      close: async () => undefined,
    };
    const query = vector(6, 2);
    const viaFallback = await scoreCached(
      plain,
      [
        { id: 'a', text: 'a' },
        { id: 'b', text: 'b' },
      ],
      query,
    );
    const viaStore = await scoreCached(
      inner,
      [
        { id: 'a', text: 'a' },
        { id: 'b', text: 'b' },
      ],
      query,
    );
    expect(viaFallback.scores[0]).toBe(dot(query, vector(6, 1)));
    expect(viaFallback.scores[1]).toBeNaN();
    expect(Array.from(viaFallback.hit)).toEqual([1, 0]);
    expect(Array.from(viaStore.scores)).toEqual(Array.from(viaFallback.scores));
  });
});
