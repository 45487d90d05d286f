// A worker whose Redis stops answering (SIGSTOP) still exits on SIGTERM (#18): every close step is bounded.
import { afterAll, describe, expect, it } from 'vitest';
import { startRedisServer, uniquePrefix, type OwnRedis } from '@dotrank/core/testing';
import { createRedisConnection } from '@dotrank/vector-cache';
import { spawnWorker, type SpawnedWorker } from './helpers.js';

describe('dotrank worker with a Redis that stops answering', () => {
  let redis: OwnRedis | undefined;
  let worker: SpawnedWorker | undefined;
  afterAll(async () => {
    await worker?.stop('SIGKILL');
    await redis?.stop();
  });

  it('writes its heartbeat, and exits after SIGTERM although Redis does not answer', async () => {
    redis = await startRedisServer();
    const prefix = uniquePrefix('worker-faults');
    worker = spawnWorker(prefix, [], true, redis.url);
    await worker.ready;
    const client = createRedisConnection(redis.url);
    try {
      expect(await client.zcard(`${prefix}:${prefix}-rerank:heartbeats`)).toBe(1);
    } finally {
      client.disconnect();
    }
    redis.pause();
    const exited = worker.stop('SIGTERM');
    const outcome = await Promise.race([
      exited,
      new Promise<'still running'>((r) => setTimeout(() => r('still running'), 15_000)),
    ]);
    expect(outcome, worker.output()).not.toBe('still running');
  }, 60_000);
});
