import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Worker } from 'bullmq';
import { ModelError, type DenseEncoder } from '@dotrank/core';
import { redisUrlForTests, tinyModelDir, uniquePrefix } from '@dotrank/core/testing';
import { loadEncoder, type Encoder } from '@dotrank/encoder';
import { MemoryVectorStore, RedisVectorStore, createRedisConnection, textHash } from '@dotrank/vector-cache';
import { InProcessReranker } from '../src/in-process.js';
import { QueueReranker } from '../src/producer.js';
import { NoWorkersError, RerankJobFailedError, RerankTimeoutError } from '../src/errors.js';
import { degradationFor } from '../src/outcome.js';
import { HEARTBEAT_TTL_MS, decodeFailure, heartbeatKey, payloadKey, queueNames } from '../src/wire.js';
import { startRerankWorker, type JobStatus, type RerankWorker } from '../src/processor.js';
import type { RerankResult } from '../src/types.js';
import { deleteKeys, fakeHeartbeat, makeCandidates, rawQueue } from './queue-helpers.js';

// The whole queue inside the package: QueueReranker -> Redis -> startRerankWorker (real Redis, ONNX Runtime, tiny model)
const prefix = uniquePrefix('rerank-queue');
const prefixes = [prefix];
let encoder: Encoder;
let store: RedisVectorStore;
let worker: RerankWorker;
let producer: QueueReranker;
const statuses: JobStatus[] = [];

const storeFor = (p: string) =>
  new RedisVectorStore({
    url: redisUrlForTests(),
    keyPrefix: p,
    modelId: encoder.modelId,
    revision: encoder.revision,
    dimension: encoder.dimension,
  });

beforeAll(async () => {
  encoder = await loadEncoder(tinyModelDir(), { intraOpThreads: 1 });
  store = storeFor(prefix);
  worker = await startRerankWorker({
    connection: redisUrlForTests(),
    queuePrefix: prefix,
    encoder,
    store,
    concurrency: 4,
    observer: { onJob: (_, s) => statuses.push(s) },
  });
  producer = new QueueReranker({ connection: redisUrlForTests(), queuePrefix: prefix });
  await producer.ready();
});

afterAll(async () => {
  await producer?.close();
  await worker?.close();
  await store?.close();
  await encoder?.close();
  for (const p of prefixes) await deleteKeys(p);
});

const strip = (r: RerankResult) =>
  r.results.map(({ id, rank, score, bm25Score, tasbScore, text }) => ({ id, rank, score, bm25Score, tasbScore, text }));
const reasonOf = (error: unknown) => decodeFailure((error as Error).message);

describe('rerank through the queue (producer and processor of rerank-core)', () => {
  it('returns the same order and scores as InProcessReranker', async () => {
    const candidates = makeCandidates(40, 1);
    for (const fusion of ['tasb', 'interpolate', 'rrf', 'bm25'] as const) {
      const req = { query: 'supersonic boundary layer heat', candidates, fusion, k: 25, requestId: `parity-${fusion}` };
      const viaQueue = await producer.rerank(req);
      expect(viaQueue.results).toHaveLength(25);
      expect(viaQueue.timings.queueWaitMs).toBeGreaterThanOrEqual(0);
      // the same vectors (read from the cache the worker filled): identical results
      const cachedStore = storeFor(prefix);
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

  it('puts the lookup columns on the queue and the texts beside the job, and deletes them once done', async () => {
    const names = queueNames(prefix);
    const added = vi.spyOn(producer.queue, 'add');
    const redis = createRedisConnection(redisUrlForTests());
    try {
      const req = {
        query: 'laminar flow over a flat plate',
        candidates: makeCandidates(30, 5),
        fusion: 'interpolate' as const,
        requestId: 'envelope',
      };
      await producer.rerank(req);
      const data = added.mock.calls[0]![1] as Record<string, unknown>;
      const jobId = (added.mock.calls[0]![2] as { jobId: string }).jobId;
      // no candidates, no key name: the request's fields, the bookkeeping and the lookup
      expect(Object.keys(data).sort()).toEqual(['enqueuedAt', 'fusion', 'lookup', 'query', 'replyTo', 'requestId']);
      expect(data['lookup']).toEqual({
        ids: req.candidates.map((c) => c.id),
        textHashes: req.candidates.map((c) => [textHash(c.text)]),
        scores: req.candidates.map((c) => c.score),
      });
      expect(await redis.exists(payloadKey(names, jobId))).toBe(0);
      expect(await redis.keys(`${prefix}:${names.rerank}:payload:*`)).toEqual([]);
    } finally {
      added.mockRestore();
      await redis.quit();
    }
  });

  it('sends no texts once every hash is known cached, and resends them when a vector was evicted meanwhile', async () => {
    const candidates = makeCandidates(20, 9);
    const req = { query: 'jet noise of a nozzle', candidates, fusion: 'tasb' as const };
    const added = vi.spyOn(producer.queue, 'add');
    const redis = createRedisConnection(redisUrlForTests());
    const before = producer.payloadStats;
    try {
      const first = await producer.rerank(req); // encodes all 20
      const second = await producer.rerank(req); // all cached: the producer learns it
      expect([first.cache.misses, second.cache.hits]).toEqual([20, 20]);
      expect(producer.payloadStats).toEqual(before);
      const third = await producer.rerank(req);
      const sent = added.mock.calls.at(-1)![1] as Record<string, unknown>;
      expect(sent['textsOmitted']).toBe(true);
      expect(producer.payloadStats).toEqual({ omitted: before.omitted + 1, resent: before.resent });
      expect(strip(third)).toEqual(strip(second));

      // an evicted vector: the job without texts fails at once (texts_needed) and goes again with them
      const keys = await redis.keys(`${prefix}:vec:*:${textHash(candidates[7]!.text)}`);
      expect(keys).toHaveLength(1);
      await redis.del(keys[0]!);
      const statusesBefore = statuses.length;
      const fourth = await producer.rerank(req);
      expect(fourth.cache).toEqual({ hits: 19, misses: 1 });
      expect(strip(fourth).map((r) => r.id)).toEqual(strip(second).map((r) => r.id));
      fourth.results.forEach((r, i) => expect(r.score).toBeCloseTo(second.results[i]!.score, 5));
      expect(producer.payloadStats).toEqual({ omitted: before.omitted + 2, resent: before.resent + 1 });
      expect(statuses.slice(statusesBefore)).toContain('texts_needed');
      const resent = added.mock.calls.at(-1)![1] as Record<string, unknown>;
      expect(resent['textsOmitted']).toBeUndefined();
      // neither job left anything behind: no payload, no failed job
      expect(await redis.keys(`${prefix}:${queueNames(prefix).rerank}:payload:*`)).toEqual([]);
      expect(await producer.queue.getFailedCount()).toBe(0);
    } finally {
      added.mockRestore();
      await redis.quit();
    }
  });

  it('re-encodes a passage whose text changed instead of serving the stale vector', async () => {
    const before = [
      { id: 'doc', text: 'shock wave interaction with the boundary layer', score: 1 },
      { id: 'other', text: 'wing vibration', score: 0.5 },
    ];
    const after = [{ id: 'doc', text: 'buckling of cylindrical shells under pressure', score: 1 }, before[1]!];
    const first = await producer.rerank({ query: 'shock wave', candidates: before, fusion: 'tasb' });
    const second = await producer.rerank({ query: 'shock wave', candidates: after, fusion: 'tasb' });
    expect(second.cache).toEqual({ hits: 1, misses: 1 });
    const [q] = await encoder.encodeQueries(['shock wave']);
    const [p] = await encoder.encodePassages([after[0]!.text]);
    const doc2 = second.results.find((r) => r.id === 'doc')!;
    expect(doc2.tasbScore).toBeCloseTo(encoder.score(q!, p!), 5);
    expect(doc2.tasbScore).not.toBeCloseTo(first.results.find((r) => r.id === 'doc')!.tasbScore!, 5);
    expect(doc2.text).toBe(after[0]!.text);
  });

  it('surfaces an exceeded deadline as a timeout error and removes the late job', async () => {
    const idle = uniquePrefix('idle'); // a worker that is alive but takes no job
    prefixes.push(idle);
    await fakeHeartbeat(idle);
    const lonely = new QueueReranker({ connection: redisUrlForTests(), queuePrefix: idle });
    try {
      const error = await lonely
        .rerank({ query: 'q', candidates: makeCandidates(3, 9), fusion: 'tasb' }, { deadlineMs: 200 })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RerankTimeoutError);
      expect((error as RerankTimeoutError).code).toBe('timeout');
      expect((error as RerankTimeoutError).message).toBe('deadlineMs: rerank did not finish within 200 ms');
      await new Promise((r) => setTimeout(r, 200));
      expect(await lonely.queue.getJobCounts('waiting', 'delayed', 'prioritized')).toMatchObject({
        waiting: 0,
        delayed: 0,
        prioritized: 0,
      });
      const redis = createRedisConnection(redisUrlForTests());
      expect(await redis.keys(`${idle}:*:payload:*`)).toEqual([]);
      await redis.quit();
    } finally {
      await lonely.close();
    }
  });

  it('rejects invalid requests in the producer before enqueueing', async () => {
    await expect(producer.rerank({ query: '', candidates: makeCandidates(1, 2), fusion: 'tasb' })).rejects.toThrow(
      /query: must be a non-empty string/,
    );
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
        candidates: [pool[i % 60]!, pool[(i * 7 + 1) % 60]!, pool[(i * 13 + 2) % 60]!].filter(
          (c, j, a) => a.findIndex((x) => x.id === c.id) === j,
        ),
        fusion: 'tasb' as const,
        requestId: `bulk-${i}`,
      }));
      const completedBefore = statuses.filter((s) => s === 'completed').length;
      const results = await Promise.all(jobs.map((req, i) => producers[i % producers.length]!.rerank(req)));
      for (let i = 0; i < jobs.length; i++) {
        const expected = await reference.rerank(jobs[i]!);
        expect(results[i]!.results.map((r) => r.id)).toEqual(expected.results.map((r) => r.id));
        results[i]!.results.forEach((r, j) => expect(r.score).toBeCloseTo(expected.results[j]!.score, 5));
      }
      expect(statuses.filter((s) => s === 'completed').length - completedBefore).toBe(1000);
    } finally {
      await Promise.all(producers.map((p) => p.close()));
    }
  }, 180_000);
});

describe('worker heartbeats (wire.ts heartbeatKey)', () => {
  it('a running processor refreshes its heartbeat; once it stops the producer sees no worker and answers at once', async () => {
    const beat = uniquePrefix('heartbeat');
    prefixes.push(beat);
    const key = heartbeatKey(queueNames(beat));
    const redis = createRedisConnection(redisUrlForTests());
    const own = await startRerankWorker({
      connection: redisUrlForTests(),
      queuePrefix: beat,
      encoder,
      store: new MemoryVectorStore(),
    });
    const p = new QueueReranker({ connection: redisUrlForTests(), queuePrefix: beat });
    try {
      const first = Number(await redis.zscore(key, own.workerId));
      expect(first).toBeGreaterThan(0);
      await vi.waitFor(async () => expect(Number(await redis.zscore(key, own.workerId))).toBeGreaterThan(first), {
        timeout: 10_000,
        interval: 200,
      });
      expect(await p.workersAlive()).toBe(true);
      await own.close();
      expect(await redis.zscore(key, own.workerId)).toBeNull();
      await vi.waitFor(async () => expect(await p.workersAlive()).toBe(false), { timeout: 10_000, interval: 200 });
      const error = await p
        .rerank({ query: 'q', candidates: makeCandidates(3, 5), fusion: 'tasb' }, { deadlineMs: 60_000 })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NoWorkersError);
      expect(degradationFor(error).reason).toBe('no_workers');
      expect(await p.queue.getJobCounts('waiting')).toMatchObject({ waiting: 0 });
    } finally {
      await own.close();
      await p.close();
      await redis.quit();
    }
  });

  it('a worker last seen longer than the TTL ago counts as gone (one that died without saying so)', async () => {
    const stale = uniquePrefix('heartbeat-stale');
    prefixes.push(stale);
    const redis = createRedisConnection(redisUrlForTests());
    const p = new QueueReranker({ connection: redisUrlForTests(), queuePrefix: stale });
    try {
      await redis.zadd(heartbeatKey(queueNames(stale)), Date.now() - HEARTBEAT_TTL_MS - 1000, 'died-silently');
      expect(await p.workerCount()).toBe(0);
      await expect(p.rerank({ query: 'q', candidates: makeCandidates(2, 6), fusion: 'tasb' })).rejects.toThrow(
        /no rerank worker seen/,
      );
    } finally {
      await p.close();
      await redis.quit();
    }
  });
});

describe('jobs the processor refuses (failed at once, the field named in a coded failure)', () => {
  it('a job naming a key, carrying candidates, or past its deadline', async () => {
    const { queue, events, opts, close } = await rawQueue(prefix);
    const candidates = makeCandidates(3, 8);
    const lookup = {
      ids: candidates.map((c) => c.id),
      textHashes: candidates.map((c) => [textHash(c.text)]),
      scores: candidates.map((c) => c.score),
    };
    const base = { query: 'q', fusion: 'tasb', enqueuedAt: Date.now(), lookup };
    try {
      const cases: [unknown, { code: string; field: string }][] = [
        [
          { ...base, payloadKey: 'elsewhere:secret' },
          { code: 'invalid_input', field: 'payloadKey' },
        ],
        [
          { ...base, candidates },
          { code: 'invalid_input', field: 'candidates' },
        ],
        // a reply channel is derived from a producer id: a job cannot name one
        [
          { ...base, replyTo: 'elsewhere:secret' },
          { code: 'invalid_input', field: 'replyTo' },
        ],
        [
          { ...base, lookup: { ...lookup, scores: [1] } },
          { code: 'invalid_input', field: 'lookup.scores' },
        ],
        [
          { ...base, enqueuedAt: Date.now() - 1000, deadlineAt: Date.now() - 500 },
          { code: 'timeout', field: 'deadlineMs' },
        ],
      ];
      for (const [data, expected] of cases) {
        const job = await queue.add('rerank', data, opts);
        const error = await job.waitUntilFinished(events, 20_000).catch((e: unknown) => e);
        expect(reasonOf(error)).toMatchObject(expected);
        expect((await queue.getJob(job.id!))!.attemptsMade).toBe(1);
      }
    } finally {
      await close();
    }
  });

  it('scores a warm job from its lookup alone, reads the texts only for misses and checks them against their hashes', async () => {
    const { names, redis, queue, events, opts, close } = await rawQueue(prefix);
    const candidates = makeCandidates(12, 6);
    const lookup = {
      ids: candidates.map((c) => c.id),
      textHashes: candidates.map((c) => [textHash(c.text)]),
      scores: candidates.map((c) => c.score),
    };
    const job = (fusion: string, l = lookup) => ({ query: 'nozzle jet', fusion, enqueuedAt: Date.now(), lookup: l });
    try {
      const reference = await producer.rerank({ query: 'nozzle jet', candidates, fusion: 'rrf' }); // caches all 12
      // warm: no payload was ever written, yet the job completes with the same ranking
      const warm = await queue.add('rerank', job('rrf'), opts);
      const result = (await warm.waitUntilFinished(events, 20_000)) as {
        ranked: { index: number[]; score: number[] };
        cache: { hits: number };
      };
      expect(result.cache.hits).toBe(12);
      expect(result.ranked.index.map((i) => candidates[i]!.id)).toEqual(reference.results.map((r) => r.id));
      expect(result.ranked.score).toEqual(reference.results.map((r) => r.score));

      // a miss needs the texts: without a payload the job fails at once, naming it
      const changed = {
        ...lookup,
        textHashes: lookup.textHashes.map((h, i) => (i === 3 ? [textHash('new text of p3')] : h)),
      };
      const gone = await queue.add('rerank', job('tasb', changed), opts);
      const goneError = await gone.waitUntilFinished(events, 20_000).catch((e: unknown) => e);
      expect(reasonOf(goneError)).toEqual({
        code: 'invalid_input',
        field: 'payload',
        message: `${payloadKey(names, gone.id!)} is gone (expired, or its producer stopped waiting)`,
      });
      expect((await queue.getJob(gone.id!))!.attemptsMade).toBe(1);

      // a hash that is not the hash of the payload's text is refused, never cached under the wrong text
      await redis.set(payloadKey(names, 'wrong-hash'), JSON.stringify(candidates.map((c) => c.text)));
      const wrong = await queue.add('rerank', job('tasb', changed), { ...opts, jobId: 'wrong-hash' });
      const wrongError = await wrong.waitUntilFinished(events, 20_000).catch((e: unknown) => e);
      expect(reasonOf(wrongError)).toMatchObject({ code: 'invalid_input', field: 'textHashes.3' });
      expect(await redis.keys(`${prefix}:vec:*:s6-p3:${changed.textHashes[3]![0]}`)).toEqual([]);

      // the payload must hold one text per candidate
      await redis.set(payloadKey(names, 'short'), JSON.stringify(candidates.slice(1).map((c) => c.text)));
      const short = await queue.add('rerank', job('tasb', changed), { ...opts, jobId: 'short' });
      expect(reasonOf(await short.waitUntilFinished(events, 20_000).catch((e: unknown) => e))).toEqual({
        code: 'invalid_input',
        field: 'payload',
        message: 'holds 11 texts for 12 text hashes',
      });
    } finally {
      await close();
    }
  });
});

describe('failures crossing the queue', () => {
  it('a worker failure reaches the producer as RerankJobFailedError with the worker’s code', async () => {
    const broken = uniquePrefix('broken');
    prefixes.push(broken);
    const failing: DenseEncoder = Object.assign(Object.create(encoder) as DenseEncoder, {
      encodeQueries: () => Promise.reject(new ModelError('onnx session lost')),
    });
    const brokenWorker = await startRerankWorker({
      connection: redisUrlForTests(),
      queuePrefix: broken,
      encoder: failing,
      store: new MemoryVectorStore(),
    });
    const p = new QueueReranker({
      connection: redisUrlForTests(),
      queuePrefix: broken,
      jobOptions: { attempts: 2, backoff: { type: 'fixed', delay: 10 } },
    });
    try {
      const error = await p
        .rerank({ query: 'q', candidates: makeCandidates(3, 4), fusion: 'tasb' })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RerankJobFailedError);
      expect(error).toMatchObject({ code: 'model_error', message: 'onnx session lost' });
    } finally {
      await p.close();
      await brokenWorker.close();
    }
  });

  it('refuses a malformed columns result from a worker, naming what is wrong', async () => {
    const rogue = uniquePrefix('rogue');
    prefixes.push(rogue);
    const names = queueNames(rogue);
    const timings = { encodeQueryMs: 0, cacheReadMs: 0, encodeMissesMs: 0, scoreMs: 0, totalMs: 0 };
    const replies = [
      { ranked: { index: [0, 0], score: [1, 2] }, fusion: 'tasb', timings, cache: { hits: 0, misses: 0 } },
      { ranked: { index: [7], score: [1] }, fusion: 'tasb', timings, cache: { hits: 0, misses: 0 } },
      { ranked: { index: [0], score: [1, 2] }, fusion: 'tasb', timings, cache: { hits: 0, misses: 0 } },
    ];
    let n = 0;
    const connection = createRedisConnection(redisUrlForTests(), { role: 'blocking' });
    const fake = new Worker(names.rerank, async () => replies[n++], { connection, prefix: rogue });
    await fakeHeartbeat(rogue);
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
      await connection.quit();
    }
  });
});
