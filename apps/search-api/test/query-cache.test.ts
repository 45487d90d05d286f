import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { loadConfig } from '@dotrank/core';
import {
  CONTRACT_PASSAGES,
  deleteKeysWithPrefix,
  redisUrlForTests,
  tinyModelDir,
  uniquePrefix,
} from '@dotrank/core/testing';
import { createEmbeddedSource } from '@dotrank/bm25';
import { startServer, type RunningServer } from '../src/index.js';

const prefix = uniquePrefix('api-qcache');
let root: string;
let indexDir: string;
let redis: Redis;

const counter = (metrics: string, name: string, labels = '') => {
  const line = metrics.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line ? Number(line.split(' ')[1]) : 0;
};

beforeAll(async () => {
  redis = new Redis(redisUrlForTests());
  root = await mkdtemp(join(tmpdir(), 'dotrank-api-qcache-'));
  indexDir = join(root, 'index');
  const bm25 = await createEmbeddedSource({ dir: indexDir });
  await bm25.index(CONTRACT_PASSAGES);
  await bm25.close();
});

afterAll(async () => {
  await deleteKeysWithPrefix(redis, prefix);
  await redis.quit();
  if (root) await rm(root, { recursive: true, force: true });
});

async function serve(): Promise<RunningServer> {
  const config = loadConfig({ REDIS_URL: redisUrlForTests(), DOTRANK_KEY_PREFIX: prefix, DOTRANK_ORT_THREADS: '1' });
  return startServer(config, {
    indexDir,
    model: tinyModelDir(),
    inProcess: true,
    port: 0,
    host: '127.0.0.1',
    logger: false,
  });
}

describe('query-vector cache in the API', () => {
  it('counts hits and misses in /metrics and /api/stats, and a second API process reads the first one’s vectors from Redis', async () => {
    const a = await serve();
    let b: RunningServer | undefined;
    try {
      const search = async (url: string, q: string) => {
        const response = await fetch(`${url}/search?q=${encodeURIComponent(q)}&fusion=tasb&k=3`);
        const body = (await response.json()) as { degraded: boolean; results: { id: string; score: number }[] };
        expect(body.degraded).toBe(false);
        return body.results;
      };
      const first = await search(a.url, 'boundary layer');
      // tokenizes the same: one encoding, a hit
      const again = await search(a.url, 'Boundary  LAYER');
      expect(again).toEqual(first);
      const metrics = await (await fetch(`${a.url}/metrics`)).text();
      expect(counter(metrics, 'dotrank_query_cache_misses_total')).toBe(1);
      expect(counter(metrics, 'dotrank_query_cache_hits_total', '{tier="process"}')).toBe(1);
      const stats = (await (await fetch(`${a.url}/api/stats`)).json()) as { queryCacheHitRatio: number };
      expect(stats.queryCacheHitRatio).toBe(0.5);
      const keys = await redis.keys(`${prefix}:qvec:*`);
      expect(keys).toHaveLength(1);

      b = await serve();
      const fromB = await search(b.url, 'boundary layer');
      expect(fromB).toEqual(first);
      const metricsB = await (await fetch(`${b.url}/metrics`)).text();
      expect(counter(metricsB, 'dotrank_query_cache_hits_total', '{tier="redis"}')).toBe(1);
      expect(counter(metricsB, 'dotrank_query_cache_misses_total')).toBe(0);
    } finally {
      await b?.close();
      await a.close();
    }
  }, 60_000);
});
