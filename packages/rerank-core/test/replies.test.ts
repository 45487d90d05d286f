import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Worker, type Job } from 'bullmq';
import { redisUrlForTests, uniquePrefix } from '@dotrank/core/testing';
import { MemoryVectorStore, createRedisConnection, type RedisClient } from '@dotrank/vector-cache';
import { QueueReranker } from '../src/producer.js';
import { startRerankWorker, type RerankWorker } from '../src/processor.js';
import { queueNames, replyChannel, type RerankJob } from '../src/wire.js';
import { FakeEncoder } from './fake-encoder.js';
import { API_COMMANDS, deleteKeys, fakeHeartbeat, makeCandidates, setUser } from './queue-helpers.js';

// Direct replies (wire.ts): a worker publishes each result on its producer's channel before BullMQ completes the job;
// the events stream stays the fallback. Real Redis and BullMQ; a fake encoder (the model is not what is tested here).
const prefixes: string[] = [];
const newPrefix = (name: string) => {
  const p = uniquePrefix(name);
  prefixes.push(p);
  return p;
};
let admin: RedisClient;

beforeAll(() => {
  admin = createRedisConnection(redisUrlForTests());
});

afterAll(async () => {
  for (const p of prefixes) await deleteKeys(p);
  await admin.quit();
});

const timings = { encodeQueryMs: 0, cacheReadMs: 0, encodeMissesMs: 0, scoreMs: 0, totalMs: 0 };
const columnsFor = (n: number) => ({
  ranked: { index: [...Array(n).keys()].reverse(), score: [...Array(n).keys()].reverse() },
  fusion: 'tasb',
  timings,
  cache: { hits: n, misses: 0 },
});

/** A worker of the real processor on `prefix`, with a fake encoder and an in-memory cache. */
const realWorker = (prefix: string, connection = redisUrlForTests()): Promise<RerankWorker> =>
  startRerankWorker({ connection, queuePrefix: prefix, encoder: new FakeEncoder(), store: new MemoryVectorStore() });

describe('direct replies', () => {
  it('a result published on the reply channel answers the rerank before BullMQ completes the job', async () => {
    const prefix = newPrefix('reply-direct');
    const names = queueNames(prefix);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const jobs: Job<RerankJob>[] = [];
    // a worker that publishes the reply, then holds the job active until the test lets it go
    const connection = createRedisConnection(redisUrlForTests(), { role: 'blocking' });
    const fake = new Worker<RerankJob>(
      names.rerank,
      async (job) => {
        jobs.push(job);
        const columns = columnsFor(job.data.lookup.ids.length);
        await admin.publish(replyChannel(names, job.data.replyTo!), JSON.stringify({ job: job.id, columns }));
        await held;
        return columns;
      },
      { connection, prefix },
    );
    await fakeHeartbeat(prefix);
    const producer = new QueueReranker({ connection: redisUrlForTests(), queuePrefix: prefix });
    await producer.ready();
    try {
      expect(producer.directRepliesOff).toBeUndefined();
      expect(await producer.directRepliesRefused()).toBeUndefined();
      const candidates = makeCandidates(5, 3);
      const result = await producer.rerank({ query: 'q', candidates, fusion: 'tasb' });
      // answered while the job is still active: only the reply can have carried it
      expect(await jobs[0]!.getState()).toBe('active');
      expect(result.results.map((r) => r.id)).toEqual(candidates.map((c) => c.id).reverse());
      release();
      // a job with a reply channel removes itself as it completes
      await vi.waitFor(async () => expect(await producer.queue.getJob(jobs[0]!.id!)).toBeUndefined(), {
        timeout: 5000,
      });
    } finally {
      release();
      await producer.close();
      await fake.close();
      await connection.quit();
    }
  });

  it('the real processor publishes on the producer’s channel; garbage and foreign replies there are ignored', async () => {
    const prefix = newPrefix('reply-real');
    const names = queueNames(prefix);
    const worker = await realWorker(prefix);
    const producer = new QueueReranker({ connection: redisUrlForTests(), queuePrefix: prefix });
    await producer.ready();
    const listener = createRedisConnection(redisUrlForTests());
    const heard: { channel: string; message: string }[] = [];
    listener.on('pmessage', (_pattern: string, channel: string, message: string) => heard.push({ channel, message }));
    await listener.psubscribe(`${names.prefix}:${names.rerank}:reply:*`);
    try {
      // noise on the channel first: not JSON, an unknown job, no job at all
      const [channel] = await admin.pubsub('CHANNELS', `${names.prefix}:${names.rerank}:reply:*`);
      expect(channel).toBeDefined();
      for (const noise of ['not json', JSON.stringify({ job: 'nobody', columns: {} }), '{}'])
        await admin.publish(channel as string, noise);
      const candidates = makeCandidates(8, 2);
      const result = await producer.rerank({ query: 'boundary layer', candidates, fusion: 'tasb' });
      expect(result.results).toHaveLength(8);
      await vi.waitFor(() => expect(heard.length).toBeGreaterThanOrEqual(4));
      const reply = JSON.parse(heard.at(-1)!.message) as { job: string; columns: { ranked: { index: number[] } } };
      expect(heard.at(-1)!.channel).toBe(channel);
      expect(reply.columns.ranked.index.map((i) => candidates[i]!.id)).toEqual(result.results.map((r) => r.id));
    } finally {
      await listener.quit();
      await producer.close();
      await worker.close();
    }
  });

  it('directReplies: false sends no replyTo, and the result comes through the events stream', async () => {
    const prefix = newPrefix('reply-off');
    const worker = await realWorker(prefix);
    const producer = new QueueReranker({ connection: redisUrlForTests(), queuePrefix: prefix, directReplies: false });
    await producer.ready();
    const added = vi.spyOn(producer.queue, 'add');
    try {
      expect(producer.directRepliesOff).toMatch(/turned off/);
      const result = await producer.rerank({ query: 'q', candidates: makeCandidates(6, 1), fusion: 'tasb' });
      expect(result.results).toHaveLength(6);
      expect(added.mock.calls[0]![1]).not.toHaveProperty('replyTo');
      // without a reply channel the producer removes the job itself once it has the result
      const jobId = (added.mock.calls[0]![2] as { jobId: string }).jobId;
      await vi.waitFor(async () => expect(await producer.queue.getJob(jobId)).toBeUndefined());
    } finally {
      added.mockRestore();
      await producer.close();
      await worker.close();
    }
  });

  it('a user who may not subscribe gets no direct replies, says why, and still gets results', async () => {
    const prefix = newPrefix('reply-acl');
    const user = `dotrank-test-noreply-${randomBytes(4).toString('hex')}`;
    const password = randomBytes(16).toString('hex');
    // the API's documented commands, but no channel: SUBSCRIBE is refused
    await admin.call(...setUser(user, password, [`~${prefix}:*`], API_COMMANDS));
    const worker = await realWorker(prefix);
    const url = redisUrlForTests().replace('redis://', `redis://${user}:${password}@`);
    const producer = new QueueReranker({ connection: url, queuePrefix: prefix });
    try {
      await producer.ready();
      expect(producer.directRepliesOff).toMatch(/could not subscribe/);
      // what the API warns of at start
      expect(await producer.directRepliesRefused()).toMatch(/could not subscribe to .*:reply:.*NOPERM/);
      const result = await producer.rerank({ query: 'q', candidates: makeCandidates(4, 7), fusion: 'tasb' });
      expect(result.results).toHaveLength(4);
    } finally {
      await producer.close();
      await worker.close();
      await admin.call('ACL', 'DELUSER', user);
    }
  });
});
