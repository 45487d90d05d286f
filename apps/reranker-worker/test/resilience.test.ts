import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEncoder, type Encoder } from '@dotrank/encoder';
import { redisUrlForTests, tinyModelDir, uniquePrefix } from '@dotrank/core/testing';
import { InProcessReranker, QueueReranker, enqueueWarm, type WarmProgress } from '@dotrank/rerank-core';
import { MemoryVectorStore, RedisVectorStore } from '@dotrank/vector-cache';
import { startWorker } from '../src/worker.js';
import { deleteKeys, makeCandidates, spawnWorker, testConfig, type SpawnedWorker } from './helpers.js';

let encoder: Encoder;
const prefixes: string[] = [];
const spawned: SpawnedWorker[] = [];
const fresh = (label: string) => {
  const p = uniquePrefix(label);
  prefixes.push(p);
  return p;
};

beforeAll(async () => {
  encoder = await loadEncoder(tinyModelDir(), { intraOpThreads: 1 });
});
afterAll(async () => {
  await Promise.all(spawned.map((w) => w.stop('SIGKILL')));
  await encoder?.close();
  for (const p of prefixes) await deleteKeys(p);
});

const waitFor = async (cond: () => Promise<boolean>, timeoutMs: number, what: string) => {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('worker resilience (real processes, real Redis, tiny model)', () => {
  it('loses no job when a worker is killed with SIGKILL mid-job', async () => {
    const prefix = fresh('kill');
    const a = spawnWorker(prefix, ['--lock-duration', '1000', '--stalled-interval', '1000']);
    spawned.push(a);
    await a.ready;
    const producer = new QueueReranker({ connection: redisUrlForTests(), queuePrefix: prefix });
    try {
      const req = {
        query: 'boundary layer heat transfer',
        candidates: makeCandidates(1000, 5, 60),
        fusion: 'tasb' as const,
      };
      const pending = producer.rerank(req);
      await waitFor(async () => (await producer.queue.getActiveCount()) === 1, 30_000, 'the job to become active');
      const b = spawnWorker(prefix, ['--lock-duration', '1000', '--stalled-interval', '1000']);
      spawned.push(b);
      a.child.kill('SIGKILL');
      const result = await pending;
      expect(a.child.signalCode).toBe('SIGKILL');
      const expected = await new InProcessReranker({ encoder, store: new MemoryVectorStore() }).rerank(req);
      expect(result.results.map((r) => r.id)).toEqual(expected.results.map((r) => r.id));
      result.results.forEach((r, i) => expect(r.score).toBeCloseTo(expected.results[i]!.score, 4));
      // the second worker found the job stalled (the killed worker's lock expired) and ran it
      expect(b.output()).toContain('job stalled; it will be retried');
    } finally {
      await producer.close();
    }
  }, 120_000);

  it('keeps renewing the job lock during a long encode (job longer than lockDuration, no stall)', async () => {
    const prefix = fresh('lock');
    const worker = await startWorker(testConfig(prefix, { DOTRANK_MAX_CANDIDATES: '6000' }), {
      modelDir: tinyModelDir(),
      threads: 1,
      lockDuration: 800,
      stalledInterval: 400,
      maxStalledCount: 0, // a single stall would fail the job
    });
    const producer = new QueueReranker({
      connection: redisUrlForTests(),
      queuePrefix: prefix,
      maxCandidates: 6000,
      deadlineMs: 600_000,
    });
    const delay = monitorEventLoopDelay({ resolution: 10 });
    try {
      delay.enable();
      const started = Date.now();
      // enough cold passages that even a fast machine needs several lock periods
      const result = await producer.rerank({
        query: 'shock wave',
        candidates: makeCandidates(5000, 11, 100),
        fusion: 'tasb',
      });
      const elapsed = Date.now() - started;
      delay.disable();
      const maxDelayMs = delay.max / 1e6;
      console.warn(
        `lock test: job took ${elapsed} ms with lockDuration 800 ms; max event-loop delay ${maxDelayMs.toFixed(1)} ms`,
      );
      expect(result.cache.misses).toBe(5000);
      expect(elapsed).toBeGreaterThan(1600); // the premise of the test: longer than the lock, or it proves nothing
      const metrics = await worker.registry.metrics();
      expect(metrics).toMatch(/dotrank_worker_jobs_total\{type="rerank",status="completed"\} 1/);
    } finally {
      await producer.close();
      await worker.close();
    }
  }, 120_000);

  it('warms a corpus in chunk jobs over several workers, with progress, and resumes by skipping cached passages', async () => {
    const prefix = fresh('warm');
    const config = testConfig(prefix);
    const workers = await Promise.all(
      [0, 1].map(() => startWorker(config, { modelDir: tinyModelDir(), threads: 1, batchSize: 16 })),
    );
    try {
      const passages = makeCandidates(230, 21).map((c, i) => ({
        id: c.id,
        text: c.text,
        ...(i % 3 === 0 ? { title: `Title ${i}` } : {}),
      }));
      const run = await enqueueWarm(passages, { connection: redisUrlForTests(), queuePrefix: prefix, chunkSize: 50 });
      expect(run.jobIds).toHaveLength(5);
      const seen: WarmProgress[] = [];
      const final = await run.wait((p) => seen.push(p));
      await run.close();
      expect(final).toMatchObject({
        done: 230,
        total: 230,
        encoded: 230,
        skipped: 0,
        failedChunks: 0,
        finishedChunks: 5,
      });
      expect(seen.length).toBeGreaterThan(1);
      // vectors in the cache equal the encoder's own output for the passage text (the title is display only, so a
      // warmed passage and the same passage coming back as a first-stage candidate share one key)
      const store = new RedisVectorStore({
        url: redisUrlForTests(),
        keyPrefix: prefix,
        modelId: encoder.modelId,
        revision: encoder.revision,
      });
      const texts = passages.map((p) => p.text);
      const cached = await store.getMany(passages.map((p, i) => ({ id: p.id, text: texts[i]! })));
      const direct = await encoder.encodePassages(texts.slice(0, 10));
      expect(cached.every((v) => v instanceof Float32Array)).toBe(true);
      direct.forEach((v, i) => v.forEach((x, j) => expect(cached[i]![j]).toBeCloseTo(x, 5)));
      await store.close();
      // second run: everything is cached already
      const again = await enqueueWarm(passages, {
        connection: redisUrlForTests(),
        queuePrefix: prefix,
        chunkSize: 100,
      });
      const second = await again.wait();
      await again.close();
      expect(second).toMatchObject({ done: 230, encoded: 0, skipped: 230 });
      const counted = await Promise.all(
        workers.map((w) => w.registry.getSingleMetricAsString('dotrank_worker_warm_passages_total')),
      );
      expect(counted.join('\n')).toMatch(/outcome="encoded"/);
    } finally {
      await Promise.all(workers.map((w) => w.close()));
    }
  }, 120_000);

  it('finishes the in-flight job on SIGTERM, then exits 0', async () => {
    const prefix = fresh('term');
    const w = spawnWorker(prefix);
    spawned.push(w);
    await w.ready;
    const producer = new QueueReranker({ connection: redisUrlForTests(), queuePrefix: prefix });
    try {
      const pending = producer.rerank({ query: 'nozzle', candidates: makeCandidates(600, 31, 60), fusion: 'tasb' });
      await waitFor(async () => (await producer.queue.getActiveCount()) === 1, 30_000, 'the job to become active');
      const exit = w.stop('SIGTERM');
      const result = await pending;
      expect(result.results).toHaveLength(600);
      expect(await exit).toBe(0);
      expect(w.output()).toContain('worker stopped');
    } finally {
      await producer.close();
    }
  }, 120_000);
});
