// RedisVectorStore.close() is bounded (#18): a Redis that hangs (SIGSTOP) or is gone must not hold a shutdown.
import { afterEach, describe, expect, it } from 'vitest';
import { startRedisServer, type OwnRedis } from '@dotrank/core/testing';
import { RedisVectorStore } from '@dotrank/vector-cache';

/** Resolves 'closed', or 'still closing' if close() has not settled `ms` after the call. */
async function closeWithin(store: RedisVectorStore, ms: number): Promise<'closed' | 'still closing'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'still closing'>((r) => (timer = setTimeout(() => r('still closing'), ms)));
  const outcome = await Promise.race([store.close().then(() => 'closed' as const), late]);
  clearTimeout(timer);
  return outcome;
}

/** A store on `redis` with both of its connections open (ioredis for writes, the fast reader for scoring). */
async function openStore(redis: OwnRedis): Promise<RedisVectorStore> {
  const store = new RedisVectorStore({
    url: redis.url,
    keyPrefix: 'close-test',
    modelId: 'm',
    revision: 'r',
    dimension: 4,
  });
  expect(store.fastReads).toBe(true);
  const key = { id: 'p1', text: 'a passage' };
  await store.setMany([{ key, vector: new Float32Array([1, 2, 3, 4]) }]);
  const scored = await store.scoreMany!([key], new Float32Array([1, 0, 0, 0]));
  expect(scored.scores[0]).toBe(1);
  return store;
}

let redis: OwnRedis | undefined;
afterEach(async () => {
  await redis?.stop();
});

describe('RedisVectorStore.close()', () => {
  it('returns within seconds when Redis hangs', async () => {
    redis = await startRedisServer();
    const store = await openStore(redis);
    redis.pause();
    expect(await closeWithin(store, 5000)).toBe('closed');
  });

  it('returns within seconds when Redis is gone', async () => {
    redis = await startRedisServer();
    const store = await openStore(redis);
    await redis.stop();
    expect(await closeWithin(store, 5000)).toBe('closed');
  });
});
