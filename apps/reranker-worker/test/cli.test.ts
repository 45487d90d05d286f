import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { redisUrlForTests, uniquePrefix } from '@dotrank/core/testing';
import { QueueReranker } from '@dotrank/rerank-core';
import { createRedisConnection } from '@dotrank/vector-cache';
import { CLI, deleteKeys, makeCandidates, spawnWorker, type SpawnedWorker } from './helpers.js';

const prefix = uniquePrefix('cli');
let worker: SpawnedWorker | undefined;
afterAll(async () => {
  await worker?.stop('SIGKILL');
  await deleteKeys(prefix);
});

const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 });

describe('dotrank worker (spawned CLI)', () => {
  it('documents its flags', () => {
    const r = run(['worker', '--help']);
    expect(r.status).toBe(0);
    for (const flag of ['--model', '--concurrency', '--batch-size', '--threads', '--metrics-port'])
      expect(r.stdout).toContain(flag);
  });

  it('rejects a bad flag value and a missing REDIS_URL with one clear line', () => {
    const bad = run(['worker', '--concurrency', '2000']);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/--concurrency: must be an integer between 0 and 1024/);
    const noRedis = run(['worker', '--model', 'whatever'], { REDIS_URL: '' });
    expect(noRedis.status).toBe(2);
    expect(noRedis.stderr.trim()).toBe('dotrank: REDIS_URL: is required for the worker (e.g. redis://127.0.0.1:6379)');
  });

  it('serves jobs, exposes Prometheus metrics, and stops cleanly on SIGTERM', async () => {
    worker = spawnWorker(prefix, ['--metrics-port', '0', '--concurrency', '2'], true);
    await worker.ready;
    const metricsUrl = /metrics at (http:\/\/\S+\/metrics)/.exec(worker.output())?.[1];
    expect(metricsUrl).toBeDefined();
    const producer = new QueueReranker({ connection: redisUrlForTests(), queuePrefix: prefix });
    try {
      const candidates = makeCandidates(20, 3);
      await producer.rerank({ query: 'heat', candidates, fusion: 'tasb', requestId: 'cli-1' });
      const second = await producer.rerank({ query: 'heat', candidates, fusion: 'interpolate' });
      expect(second.cache).toEqual({ hits: 20, misses: 0 });
    } finally {
      await producer.close();
    }
    const body = await (await fetch(metricsUrl!)).text();
    expect(body).toMatch(/dotrank_worker_jobs_total\{type="rerank",status="completed"\} 2/);
    expect(body).toMatch(/dotrank_worker_cache_hits_total 20/);
    // the second job's query ("heat" again) came from the query cache, and was written to Redis for everyone
    expect(body).toMatch(/dotrank_query_cache_misses_total 1\n/);
    expect(body).toMatch(/dotrank_query_cache_hits_total\{tier="process"\} 1\n/);
    const redis = createRedisConnection(redisUrlForTests());
    try {
      expect(await redis.keys(`${prefix}:qvec:*`)).toHaveLength(1);
    } finally {
      await redis.quit();
    }
    expect(body).toMatch(/dotrank_worker_cache_misses_total 20/);
    expect(body).toMatch(/dotrank_worker_stage_seconds_count\{stage="encode_query"\} 2/);
    expect(await worker.stop('SIGTERM')).toBe(0);
  }, 120_000);
});
