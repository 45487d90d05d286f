// The proxy's reranked windows in real Redis: under DOTRANK_KEY_PREFIX, with their TTL, shared by two API servers,
// and a Redis that does not answer fails the call in time (the search then computes its window instead of waiting).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteKeysWithPrefix, redisUrlForTests, uniquePrefix } from '@dotrank/core/testing';
import { redisWindowStore } from '@dotrank/elasticsearch';
import { startStandInElasticsearch } from '@dotrank/elasticsearch/testing';
import { createRedisConnection } from '@dotrank/vector-cache';
import { buildServer } from '../src/index.js';
import { FakeReranker, FakeSource } from './fakes.js';

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

describe('windows shared through Redis by two API processes', () => {
  it('serves page 2 from the window page 1 kept, in another server, without a rerank or a cluster request', async () => {
    const es = await startStandInElasticsearch({
      indices: {
        library: {
          documents: Array.from({ length: 15 }, (_, i) => ({
            _id: `d${i}`,
            _source: { body: { content: `layer ${'word '.repeat(i)}` } },
          })),
        },
      },
    });
    const rerankers = [new FakeReranker(), new FakeReranker()];
    const servers = await Promise.all(
      rerankers.map((reranker) =>
        buildServer(
          {
            source: new FakeSource(),
            reranker,
            mode: 'in-process',
            proxy: {
              url: es.url,
              indices: ['library'],
              passage: { index: 'library', textFields: ['body.content'] },
              windowStore: redisWindowStore(redis, prefix),
              modelRevision: 'fake',
            },
          },
          { logger: false },
        ),
      ),
    );
    try {
      const page = async (server: (typeof servers)[number], from: number) =>
        (
          await server.inject({
            method: 'POST',
            url: '/library/_search',
            payload: { query: { match: { 'body.content': 'layer' } }, from, size: 5 },
          })
        ).json() as { hits: { hits: { _id: string }[] } };
      const first = await page(servers[0]!, 0);
      es.clearRequests();
      const second = await page(servers[1]!, 5);
      expect(rerankers[0]!.calls).toHaveLength(1);
      expect(rerankers[1]!.calls).toHaveLength(0);
      expect(es.requestsTo(/_search/)).toHaveLength(0);
      // the fake model prefers short texts: d0 .. d14 in order, five per page
      expect(first.hits.hits.map((h) => h._id)).toEqual(['d0', 'd1', 'd2', 'd3', 'd4']);
      expect(second.hits.hits.map((h) => h._id)).toEqual(['d5', 'd6', 'd7', 'd8', 'd9']);
    } finally {
      await Promise.all(servers.map((s) => s.close()));
      await es.close();
    }
  });
});
