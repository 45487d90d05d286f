// The proxy's reranked windows in real Redis: under DOTRANK_KEY_PREFIX, with their TTL, and a Redis that does not
// answer fails the call in time (the search then computes its window instead of waiting).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteKeysWithPrefix, redisUrlForTests, uniquePrefix } from '@dotrank/core/testing';
import { redisWindowStore } from '@dotrank/elasticsearch';
import { createRedisConnection } from '@dotrank/vector-cache';

const prefix = uniquePrefix('proxy-window');
const redis = createRedisConnection(redisUrlForTests());

beforeAll(async () => {
  await redis.ping();
});
afterAll(async () => {
  await deleteKeysWithPrefix(redis, prefix);
  redis.disconnect();
});

describe('redisWindowStore', () => {
  it('keeps windows under <prefix>:proxy-window:<key> with their TTL', async () => {
    const store = redisWindowStore(redis, prefix);
    expect(await store.get('k1')).toBeUndefined();
    await store.set('k1', '{"v":1}', 120);
    expect(await store.get('k1')).toBe('{"v":1}');
    const ttl = await redis.ttl(`${prefix}:proxy-window:k1`);
    expect(ttl).toBeGreaterThan(100);
    expect(ttl).toBeLessThanOrEqual(120);
  });

  it('fails a call Redis does not answer within its timeout', async () => {
    const silent = { get: () => new Promise<string | null>(() => undefined), set: () => new Promise(() => undefined) };
    const store = redisWindowStore(silent, prefix, 50);
    await expect(store.get('k')).rejects.toThrow('Redis did not answer within 50 ms');
    await expect(store.set('k', 'v', 1)).rejects.toThrow('Redis did not answer within 50 ms');
  });
});
