// Fault injection (#18): Redis full (`maxmemory` reached under `noeviction`) while jobs run. The vector cache's
// writes are refused (OOM); the reranks still answer, the failures are counted in the worker's metrics and logged
// once per interval, not once per write. Then SIGTERM while Redis is full: every process exits within its bound.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@dotrank/core/testing';
import type { Redis } from 'ioredis';
import {
  API_EXIT_MS,
  WORKER_EXIT_MS,
  cranfield,
  exitWithin,
  queueKey,
  search,
  startFaultStack,
  waitFor,
  type FaultStack,
} from './stack.js';

let stack: FaultStack;
let client: Redis;
let queries: string[];
let metricsUrl: string;

beforeAll(async () => {
  const collection = await cranfield();
  queries = collection.queries;
  const port = await freePort();
  metricsUrl = `http://127.0.0.1:${port}/metrics`;
  stack = await startFaultStack({
    passages: collection.passages,
    apiEnv: { DOTRANK_RERANK_DEADLINE_MS: '60000' },
    workerArgs: ['--metrics-port', String(port)],
  });
  client = stack.client();
});
afterAll(async () => {
  await stack?.close();
});

/**
 * Fills Redis with 8 MB of filler, then sets `maxmemory` 4 MB below what it uses (noeviction: nothing is evicted):
 * a write is refused from then on, and what the queue deletes meanwhile (payloads, finished jobs) cannot bring
 * Redis back under the limit.
 */
async function fillRedis(): Promise<void> {
  await client.config('SET', 'maxmemory-policy', 'noeviction');
  const filler = 'x'.repeat(100_000);
  for (let i = 0; i < 80; i++) await client.set(`${stack.prefix}:filler:${i}`, filler);
  const used = Number(/used_memory:(\d+)/.exec(await client.info('memory'))![1]);
  await client.config('SET', 'maxmemory', String(used - 4 * 2 ** 20));
  await expect(client.set(`${stack.prefix}:filler:one-more`, filler)).rejects.toThrow(/OOM/);
}

describe('Redis full (maxmemory, noeviction)', () => {
  it('cache writes fail, reranks still answer; the failures are counted and logged once', async () => {
    const worker = stack.workers[0]!;
    // three cold searches (300 candidates each): the worker runs the first while the others wait behind it
    const pending = queries.slice(0, 3).map((q) => search(stack.api.url, q, { k: 10, candidates: 300 }, 90_000));
    await waitFor(async () => (await client.llen(queueKey(stack.prefix, 'active'))) === 1, 30_000, 'a job to run');
    // freeze the worker mid-job, fill Redis, let it go on: its next cache writes meet a full Redis
    worker.child.kill('SIGSTOP');
    try {
      await fillRedis();
    } finally {
      worker.child.kill('SIGCONT');
    }
    const answers = await Promise.all(pending);
    for (const a of answers) {
      expect(a, JSON.stringify(a)).toMatchObject({ status: 200, degraded: false });
      expect(a.ids).toHaveLength(10);
    }
    const metrics = await (await fetch(metricsUrl)).text();
    const failures = Number(/^dotrank_worker_cache_write_errors_total (\d+)$/m.exec(metrics)?.[1] ?? 0);
    // the premise: several writes were refused (each batch of 32 encoded passages is one write)
    expect(failures, metrics).toBeGreaterThan(1);
    const warnings = worker.output().match(/vector cache writes failed/g) ?? [];
    expect(warnings, worker.output()).toHaveLength(1);
  }, 90_000);

  it('SIGTERM while Redis is full: the API and the worker exit within their bound', async () => {
    const [api, worker] = [stack.api, stack.workers[0]!];
    api.child.kill('SIGTERM');
    worker.child.kill('SIGTERM');
    const [apiExit, workerExit] = await Promise.all([exitWithin(api, API_EXIT_MS), exitWithin(worker, WORKER_EXIT_MS)]);
    expect(apiExit, api.output()).toBe(0);
    expect(workerExit, worker.output()).toBe(0);
  }, 60_000);
});
