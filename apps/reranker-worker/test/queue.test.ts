import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { loadEncoder, type Encoder } from '@dotrank/encoder';
import { redisUrlForTests, tinyModelDir, uniquePrefix } from '@dotrank/core/testing';
import { InProcessReranker, QueueReranker, RerankTimeoutError, payloadKeyFor, queueNames, type RerankResult } from '@dotrank/rerank-core';
import { MemoryVectorStore, RedisVectorStore, textHash } from '@dotrank/vector-cache';
import { startWorker, type RunningWorker } from '../src/index.js';
import { deleteKeys, makeCandidates, testConfig } from './helpers.js';

const prefix = uniquePrefix('worker');
const config = testConfig(prefix);
let encoder: Encoder;
let worker: RunningWorker;
let producer: QueueReranker;

beforeAll(async () => {
  encoder = await loadEncoder(tinyModelDir(), { intraOpThreads: 1 });
  worker = await startWorker(config, { modelDir: tinyModelDir(), concurrency: 4, threads: 1 });
  producer = new QueueReranker({ connection: redisUrlForTests(), queuePrefix: prefix });
  await producer.ready();
});

afterAll(async () => {
  await producer?.close();
  await worker?.close();
  await encoder?.close();
  await deleteKeys(prefix);
});

/** A plain BullMQ producer and event listener on the test queue (to add jobs QueueReranker would not), closed in full. */
async function rawQueue() {
  const names = queueNames(prefix);
  const redis = new Redis(redisUrlForTests());
  const queueConnection = new Redis(redisUrlForTests());
  const eventsConnection = new Redis(redisUrlForTests(), { maxRetriesPerRequest: null });
  const queue = new Queue(names.rerank, { connection: queueConnection, prefix });
  const events = new QueueEvents(names.rerank, { connection: eventsConnection, prefix });
  await events.waitUntilReady();
  const opts = { attempts: 3, backoff: { type: 'fixed' as const, delay: 10 } };
  const close = async () => {
    await events.close();
    await queue.close();
    await Promise.all([redis, queueConnection, eventsConnection].map((c) => c.quit()));
  };
  return { names, redis, queue, events, opts, close };
}

const strip = (r: RerankResult) => r.results.map(({ id, rank, score, bm25Score, tasbScore, text }) => ({ id, rank, score, bm25Score, tasbScore, text }));

describe('rerank through the queue (real Redis, real ONNX Runtime, tiny model)', () => {
  it('returns the same order and scores as InProcessReranker', async () => {
    const candidates = makeCandidates(40, 1);
    for (const fusion of ['tasb', 'interpolate', 'rrf', 'bm25'] as const) {
      const req = { query: 'supersonic boundary layer heat', candidates, fusion, k: 25, requestId: `parity-${fusion}` };
      const viaQueue = await producer.rerank(req);
      expect(viaQueue.results).toHaveLength(25);
      expect(viaQueue.timings.queueWaitMs).toBeGreaterThanOrEqual(0);
      // the same vectors (read from the cache the worker filled): identical results
      const cachedStore = new RedisVectorStore({ url: redisUrlForTests(), keyPrefix: prefix, modelId: encoder.modelId, revision: encoder.revision });
      const sameCache = await new InProcessReranker({ encoder, store: cachedStore }).rerank(req);
      await cachedStore.close();
      expect(strip(viaQueue)).toEqual(strip(sameCache));
      // freshly encoded in this process: same order, scores equal to float precision
      const fresh = await new InProcessReranker({ encoder, store: new MemoryVectorStore() }).rerank(req);
      expect(viaQueue.results.map((r) => r.id)).toEqual(fresh.results.map((r) => r.id));
      viaQueue.results.forEach((r, i) => expect(r.score).toBeCloseTo(fresh.results[i]!.score, 5));
      if (fusion === 'tasb') {
        expect(viaQueue.cache.misses).toBe(40);
        viaQueue.results.forEach((r) => expect(r.score).toBe(r.tasbScore));
      } else if (fusion !== 'bm25') {
        expect(viaQueue.cache.hits).toBe(40);
      }
    }
  });

  it('re-encodes a passage whose text changed instead of serving the stale vector', async () => {
    const before = [{ id: 'doc', text: 'shock wave interaction with the boundary layer', score: 1 }, { id: 'other', text: 'wing vibration', score: 0.5 }];
    const after = [{ id: 'doc', text: 'buckling of cylindrical shells under pressure', score: 1 }, before[1]!];
    const first = await producer.rerank({ query: 'shock wave', candidates: before, fusion: 'tasb' });
    const second = await producer.rerank({ query: 'shock wave', candidates: after, fusion: 'tasb' });
    expect(second.cache).toEqual({ hits: 1, misses: 1 });
    const [q] = await encoder.encodeQueries(['shock wave']);
    const [p] = await encoder.encodePassages([after[0]!.text]);
    const expected = encoder.score(q!, p!);
    const doc2 = second.results.find((r) => r.id === 'doc')!;
    expect(doc2.tasbScore).toBeCloseTo(expected, 5);
    expect(doc2.tasbScore).not.toBeCloseTo(first.results.find((r) => r.id === 'doc')!.tasbScore!, 5);
    expect(doc2.text).toBe(after[0]!.text);
  });

  it('fails an invalid job at once, without retries, naming the field', async () => {
    const { queue, events, opts, close } = await rawQueue();
    const job = await queue.add('rerank', { query: 'q', candidates: [{ id: 'a', text: 'x', score: 'high' }], fusion: 'tasb' }, opts);
    await expect(job.waitUntilFinished(events, 20_000)).rejects.toThrow(/invalid job: candidates\.0\.score/);
    const failed = await queue.getJob(job.id!);
    expect(failed!.attemptsMade).toBe(1);
    expect(await failed!.getState()).toBe('failed');
    await close();
  });

  it('surfaces an exceeded deadline as a timeout error', async () => {
    const idle = uniquePrefix('idle'); // no worker listens here
    const lonely = new QueueReranker({ connection: redisUrlForTests(), queuePrefix: idle });
    try {
      const error = await lonely.rerank({ query: 'q', candidates: makeCandidates(3, 9), fusion: 'tasb' }, { deadlineMs: 200 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RerankTimeoutError);
      expect((error as RerankTimeoutError).code).toBe('timeout');
      expect((error as RerankTimeoutError).message).toMatch(/deadlineMs: rerank did not finish within 200 ms/);
      await new Promise((r) => setTimeout(r, 200));
      // the late job was removed from the queue: nobody will waste work on it
      expect(await lonely.queue.getJobCounts('waiting', 'delayed', 'prioritized')).toMatchObject({ waiting: 0, delayed: 0, prioritized: 0 });
    } finally {
      await lonely.close();
      await deleteKeys(idle);
    }
  });

  it('rejects invalid requests in the producer before enqueueing', async () => {
    await expect(producer.rerank({ query: '', candidates: makeCandidates(1, 2), fusion: 'tasb' })).rejects.toThrow(/query: must be a non-empty string/);
  });

  it('completes 1,000 concurrent jobs from several producers with correct results', async () => {
    const producers = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const p = new QueueReranker({ connection: redisUrlForTests(), queuePrefix: prefix });
        await p.ready();
        return p;
      }),
    );
    const pool = makeCandidates(60, 77);
    const queries = ['heat transfer', 'shock wave', 'wing vibration', 'nozzle jet turbulence', 'shell buckling'];
    const reference = new InProcessReranker({ encoder, store: new MemoryVectorStore() });
    try {
      const jobs = Array.from({ length: 1000 }, (_, i) => ({
        query: queries[i % queries.length]!,
        candidates: [pool[i % 60]!, pool[(i * 7 + 1) % 60]!, pool[(i * 13 + 2) % 60]!].filter((c, j, a) => a.findIndex((x) => x.id === c.id) === j),
        fusion: 'tasb' as const,
        requestId: `bulk-${i}`,
      }));
      const results = await Promise.all(jobs.map((req, i) => producers[i % producers.length]!.rerank(req)));
      expect(results).toHaveLength(1000);
      for (let i = 0; i < jobs.length; i++) {
        const expected = await reference.rerank(jobs[i]!);
        expect(results[i]!.results.map((r) => r.id)).toEqual(expected.results.map((r) => r.id));
        results[i]!.results.forEach((r, j) => expect(r.score).toBeCloseTo(expected.results[j]!.score, 5));
      }
      const metrics = await worker.registry.metrics();
      expect(metrics).toMatch(/dotrank_worker_jobs_total\{type="rerank",status="completed"\} \d+/);
    } finally {
      await Promise.all(producers.map((p) => p.close()));
    }
  }, 180_000);

  it('sends candidates beside the job by default, inline when asked: same results, no payload left behind', async () => {
    const names = queueNames(prefix);
    const redis = new Redis(redisUrlForTests());
    const inline = new QueueReranker({ connection: redisUrlForTests(), queuePrefix: prefix, candidatesInline: true });
    await inline.ready();
    // what each producer adds to the queue
    const added = vi.spyOn(producer.queue, 'add');
    const addedInline = vi.spyOn(inline.queue, 'add');
    try {
      const req = { query: 'laminar flow over a flat plate', candidates: makeCandidates(30, 5), fusion: 'interpolate' as const, requestId: 'envelope' };
      const beside = await producer.rerank(req);
      const inside = await inline.rerank(req);
      expect(strip(beside)).toEqual(strip(inside));
      const envelope = added.mock.calls[0]![1] as Record<string, unknown>;
      expect(envelope).not.toHaveProperty('candidates');
      expect(envelope['payloadKey']).toMatch(new RegExp(`^${prefix}:${names.rerank}:payload:`));
      // the lookup names every candidate by id, text hash and first-stage score, in order
      expect(envelope['lookup']).toEqual({
        ids: req.candidates.map((c) => c.id),
        textHashes: req.candidates.map((c) => textHash(c.text)),
        scores: req.candidates.map((c) => c.score),
      });
      const inlineData = addedInline.mock.calls[0]![1] as Record<string, unknown>;
      expect(inlineData['candidates']).toHaveLength(30);
      expect(inlineData).not.toHaveProperty('payloadKey');
      // the producer deletes the payload once it has the result
      expect(await redis.exists(envelope['payloadKey'] as string)).toBe(0);
      expect(await redis.keys(`${prefix}:${names.rerank}:payload:*`)).toEqual([]);
    } finally {
      added.mockRestore();
      addedInline.mockRestore();
      await inline.close();
      await redis.quit();
    }
  });

  it('scores a warm envelope job from its lookup alone, and reads the payload only to encode misses', async () => {
    const { names, redis, queue, events, opts, close } = await rawQueue();
    const candidates = makeCandidates(12, 6);
    const lookup = { ids: candidates.map((c) => c.id), textHashes: candidates.map((c) => textHash(c.text)), scores: candidates.map((c) => c.score) };
    try {
      const reference = await producer.rerank({ query: 'nozzle jet', candidates, fusion: 'rrf' }); // caches all 12
      // warm: the payload key was never written, yet the job completes with the same ranking
      const warm = await queue.add('rerank', { query: 'nozzle jet', fusion: 'rrf', payloadKey: payloadKeyFor(names, 'never-needed'), lookup }, opts);
      const result = (await warm.waitUntilFinished(events, 20_000)) as { ranked: { index: number[]; score: number[] }; cache: { hits: number } };
      expect(result.cache.hits).toBe(12);
      expect(result.ranked.index.map((i) => candidates[i]!.id)).toEqual(reference.results.map((r) => r.id));
      expect(result.ranked.score).toEqual(reference.results.map((r) => r.score));

      // a miss needs the texts: without a payload the job fails at once, naming it
      const changed = { ...lookup, textHashes: lookup.textHashes.map((h, i) => (i === 3 ? textHash('new text of p3') : h)) };
      const gone = await queue.add('rerank', { query: 'nozzle jet', fusion: 'tasb', payloadKey: payloadKeyFor(names, 'gone'), lookup: changed }, opts);
      await expect(gone.waitUntilFinished(events, 20_000)).rejects.toThrow(/invalid job: payloadKey: candidates payload .*gone is gone/);
      expect((await queue.getJob(gone.id!))!.attemptsMade).toBe(1);

      // a hash that is not the hash of the payload's text is refused, never cached under the wrong text
      const wrongKey = payloadKeyFor(names, 'wrong-hash');
      await redis.set(wrongKey, JSON.stringify(candidates));
      const wrong = await queue.add('rerank', { query: 'nozzle jet', fusion: 'tasb', payloadKey: wrongKey, lookup: changed }, opts);
      await expect(wrong.waitUntilFinished(events, 20_000)).rejects.toThrow(/invalid job: textHashes\.3: is not the hash of candidate s6-p3's text/);
      expect(await redis.keys(`${prefix}:vec:*:s6-p3:${changed.textHashes[3]}`)).toEqual([]);

      // the payload must list the lookup's candidates in its order
      const swappedKey = payloadKeyFor(names, 'swapped');
      await redis.set(swappedKey, JSON.stringify([candidates[1], candidates[0], ...candidates.slice(2)]));
      const swapped = await queue.add('rerank', { query: 'nozzle jet', fusion: 'tasb', payloadKey: swappedKey, lookup: changed }, opts);
      await expect(swapped.waitUntilFinished(events, 20_000)).rejects.toThrow(/invalid job: lookup\.ids\.0: is "s6-p0", the payload's candidate is "s6-p1"/);

      // malformed lookups name the field
      const cases: [unknown, RegExp][] = [
        [{ ...lookup, scores: lookup.scores.slice(1) }, /lookup\.scores: holds 11 values for 12 ids/],
        [{ ...lookup, textHashes: lookup.textHashes.map((h, i) => (i === 2 ? 'XYZ' : h)) }, /lookup\.textHashes\.2: must be 16 lowercase hex/],
        [{ ...lookup, ids: lookup.ids.map((id, i) => (i === 5 ? 's6-p0' : id)) }, /lookup\.ids\.5: duplicate id "s6-p0"/],
        [{ ...lookup, ids: [] }, /lookup\.ids: must hold at least 1 id/],
      ];
      for (const [bad, message] of cases) {
        const job = await queue.add('rerank', { query: 'q', fusion: 'tasb', payloadKey: wrongKey, lookup: bad }, opts);
        await expect(job.waitUntilFinished(events, 20_000)).rejects.toThrow(message);
      }
      await redis.del(wrongKey, swappedKey);
    } finally {
      await close();
    }
  });

  it('fails an envelope job whose payload is gone or malformed at once, naming payloadKey or the field', async () => {
    const { names, redis, queue, events, opts, close } = await rawQueue();
    try {
      const gone = await queue.add('rerank', { query: 'q', payloadKey: payloadKeyFor(names, 'never-written'), fusion: 'tasb' }, opts);
      await expect(gone.waitUntilFinished(events, 20_000)).rejects.toThrow(/invalid job: payloadKey: candidates payload .*never-written is gone/);
      expect((await queue.getJob(gone.id!))!.attemptsMade).toBe(1);

      const badKey = payloadKeyFor(names, 'bad-score');
      await redis.set(badKey, JSON.stringify([{ id: 'a', text: 'x', score: 'high' }]));
      const bad = await queue.add('rerank', { query: 'q', payloadKey: badKey, fusion: 'tasb' }, opts);
      await expect(bad.waitUntilFinished(events, 20_000)).rejects.toThrow(/invalid job: candidates\.0\.score/);

      const notJson = payloadKeyFor(names, 'not-json');
      await redis.set(notJson, '[{"id":');
      const broken = await queue.add('rerank', { query: 'q', payloadKey: notJson, fusion: 'tasb' }, opts);
      await expect(broken.waitUntilFinished(events, 20_000)).rejects.toThrow(/payloadKey: candidates payload .* is not JSON/);

      const empty = await queue.add('rerank', { query: 'q', payloadKey: '', fusion: 'tasb' }, opts);
      await expect(empty.waitUntilFinished(events, 20_000)).rejects.toThrow(/invalid job: payloadKey: must be a non-empty string/);
      await redis.del(badKey, notJson);
    } finally {
      await close();
    }
  });

  it('refuses a malformed columns result from a worker, naming what is wrong', async () => {
    const rogue = uniquePrefix('rogue');
    const names = queueNames(rogue);
    const replies = [
      { ranked: { index: [0, 0], score: [1, 2] }, fusion: 'tasb', timings: { encodeQueryMs: 0, cacheReadMs: 0, encodeMissesMs: 0, scoreMs: 0, totalMs: 0 }, cache: { hits: 0, misses: 0 } },
      { ranked: { index: [7], score: [1] }, fusion: 'tasb', timings: { encodeQueryMs: 0, cacheReadMs: 0, encodeMissesMs: 0, scoreMs: 0, totalMs: 0 }, cache: { hits: 0, misses: 0 } },
      { ranked: { index: [0], score: [1, 2] }, fusion: 'tasb', timings: { encodeQueryMs: 0, cacheReadMs: 0, encodeMissesMs: 0, scoreMs: 0, totalMs: 0 }, cache: { hits: 0, misses: 0 } },
    ];
    let n = 0;
    const fake = new Worker(names.rerank, async () => replies[n++], { connection: new Redis(redisUrlForTests(), { maxRetriesPerRequest: null }), prefix: rogue });
    const p = new QueueReranker({ connection: redisUrlForTests(), queuePrefix: rogue });
    await p.ready();
    try {
      const req = { query: 'q', candidates: makeCandidates(3, 4), fusion: 'tasb' as const };
      await expect(p.rerank(req)).rejects.toThrow(/malformed result \(ranked\.index\.1\)/);
      await expect(p.rerank(req)).rejects.toThrow(/malformed result \(ranked\.index\.0\)/);
      await expect(p.rerank(req)).rejects.toThrow(/malformed result \(column lengths differ\)/);
    } finally {
      await p.close();
      await fake.close();
      await deleteKeys(rogue);
    }
  });
});
