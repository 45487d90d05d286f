import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { ModelError, loadConfig, type DenseEncoder } from '@dotrank/core';
import { redisUrlForTests, tinyModelDir, uniquePrefix } from '@dotrank/core/testing';
import { loadEncoder, type Encoder } from '@dotrank/encoder';
import { RedisVectorStore, createRedisConnection, type RedisClient } from '@dotrank/vector-cache';
import { RerankJobFailedError } from '../src/errors.js';
import { QueueReranker } from '../src/producer.js';
import { startRerankWorker, type RerankWorker } from '../src/processor.js';
import { queueNames } from '../src/wire.js';
import { API_COMMANDS, WORKER_COMMANDS, deleteKeys, makeCandidates, setUser } from './queue-helpers.js';

// Finding 8 of #18: the Redis ACLs the README documents for production, tested as written. The command lists (in
// queue-helpers.ts, shared with the cluster test) are the
// minimal ones found by running a producer and a processor as these users (denied commands show in ACL LOG); the
// README's `ACL SETUSER` lines are these, with the prefixes dotrank-queue and dotrank-vectors. One addition not met in
// this run: `rpop` for the API, with which BullMQ's getCounts script (queue depth for /metrics) drops a stale marker.
const queuePrefix = uniquePrefix('acl-queue');
const keyPrefix = uniquePrefix('acl-vectors');
const tag = randomBytes(4).toString('hex');
const apiUser = `dotrank-test-api-${tag}`;
const workerUser = `dotrank-test-worker-${tag}`;
const password = randomBytes(16).toString('hex');
const urlAs = (user: string) => redisUrlForTests().replace('redis://', `redis://${user}:${password}@`);
const FAIL_QUERY = 'a query the model refuses';

let admin: RedisClient;
let encoder: Encoder;
let store: RedisVectorStore;
let worker: RerankWorker;
let producer: QueueReranker;

/** The real encoder, failing (retryably) for one query: a job that fails after its retries, under the ACLs. */
function failingFor(query: string, inner: Encoder): DenseEncoder {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop !== 'encodeQueries') return Reflect.get(target, prop, receiver) as unknown;
      return async (texts: readonly string[]) => {
        if (texts[0] === query) throw new ModelError('refused for the test');
        return target.encodeQueries(texts);
      };
    },
  });
}

/** ACL LOG entries (denials) of our two users. */
async function denials(): Promise<{ user: string; object: string; reason: string }[]> {
  const log = (await admin.call('ACL', 'LOG', '256')) as unknown[][];
  return log
    .map((entry) => {
      const m = new Map<string, unknown>();
      for (let i = 0; i < entry.length; i += 2) m.set(String(entry[i]), entry[i + 1]);
      return { user: String(m.get('username')), object: String(m.get('object')), reason: String(m.get('reason')) };
    })
    .filter((d) => d.user === apiUser || d.user === workerUser);
}

beforeAll(async () => {
  admin = createRedisConnection(redisUrlForTests());
  // keys and channels under the queue's prefix (direct replies, wire.ts); the vectors for the worker only
  await admin.call(...setUser(apiUser, password, [`~${queuePrefix}:*`, `&${queuePrefix}:*`], API_COMMANDS));
  await admin.call(
    ...setUser(workerUser, password, [`~${queuePrefix}:*`, `&${queuePrefix}:*`, `~${keyPrefix}:*`], WORKER_COMMANDS),
  );
  await admin.call('ACL', 'LOG', 'RESET');
  encoder = await loadEncoder(tinyModelDir(), { intraOpThreads: 1 });
  store = new RedisVectorStore({
    url: urlAs(workerUser),
    keyPrefix,
    modelId: encoder.modelId,
    revision: encoder.revision,
    dimension: encoder.dimension,
  });
  worker = await startRerankWorker({
    connection: urlAs(workerUser),
    queuePrefix,
    encoder: failingFor(FAIL_QUERY, encoder),
    store,
  });
  producer = new QueueReranker({ connection: urlAs(apiUser), queuePrefix, failedJobTtlSeconds: 120 });
  await producer.ready();
});

afterAll(async () => {
  await producer?.close();
  await worker?.close();
  await store?.close();
  await encoder?.close();
  await admin?.call('ACL', 'DELUSER', apiUser, workerUser);
  await deleteKeys(queuePrefix);
  await deleteKeys(keyPrefix);
  await admin?.quit();
});

describe('Redis ACLs: one user for the API (producer), one for the workers', () => {
  it('a rerank completes, and a second one reads the vectors the worker cached', async () => {
    const candidates = makeCandidates(8, 3);
    const first = await producer.rerank(
      { query: 'shock wave boundary layer', candidates, fusion: 'tasb' },
      { deadlineMs: 10_000 },
    );
    expect(first.results).toHaveLength(8);
    expect(first.cache).toEqual({ hits: 0, misses: 8 });
    // the API user may subscribe to its reply channel: results come as direct replies
    expect(producer.directRepliesOff).toBeUndefined();
    const second = await producer.rerank({ query: 'heat transfer', candidates, fusion: 'rrf' }, { deadlineMs: 10_000 });
    expect(second.cache).toEqual({ hits: 8, misses: 0 });
    // what the API's /metrics, /api/stats and /readyz ask the queue, as the API user
    const counts = await producer.queue.getJobCounts('waiting', 'prioritized', 'delayed');
    expect(Object.values(counts).reduce((sum, n) => sum + n, 0)).toBe(0);
    expect(await producer.workerCount()).toBe(1);
  });

  it('a failing job is retried, fails, and is kept for DOTRANK_FAILED_JOB_TTL_SECONDS, without the texts', async () => {
    const candidates = makeCandidates(3, 4);
    const error = await producer
      .rerank({ query: FAIL_QUERY, candidates, fusion: 'tasb', requestId: 'acl-failing' }, { deadlineMs: 10_000 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RerankJobFailedError);
    const names = queueNames(queuePrefix);
    const queue = new Queue(names.rerank, { connection: admin, prefix: queuePrefix });
    const [failed] = await queue.getFailed();
    await queue.close();
    expect(failed?.attemptsMade).toBe(3);
    expect(failed?.opts.removeOnFail).toEqual({ age: 120, count: 5000 });
    // what a failed job holds: the query, the request id, ids, text hashes and first-stage scores; never the texts
    expect(Object.keys(failed!.data).sort()).toEqual([
      'deadlineAt',
      'enqueuedAt',
      'fusion',
      'lookup',
      'query',
      'replyTo',
      'requestId',
    ]);
    expect(JSON.stringify(failed!.data)).not.toContain(candidates[0]!.text);
  });

  it('DOTRANK_FAILED_JOB_TTL_SECONDS: 7 days unless set; a value below 1 s is refused naming it', () => {
    expect(loadConfig({}).DOTRANK_FAILED_JOB_TTL_SECONDS).toBe(604_800);
    expect(loadConfig({ DOTRANK_FAILED_JOB_TTL_SECONDS: '3600' }).DOTRANK_FAILED_JOB_TTL_SECONDS).toBe(3600);
    expect(() => loadConfig({ DOTRANK_FAILED_JOB_TTL_SECONDS: '0' })).toThrow(/DOTRANK_FAILED_JOB_TTL_SECONDS/);
    expect(() => new QueueReranker({ connection: redisUrlForTests(), queuePrefix, failedJobTtlSeconds: 0.5 })).toThrow(
      /failedJobTtlSeconds: must be an integer >= 1/,
    );
  });

  it('the users ran nothing they were denied; the API user cannot read a key outside its patterns', async () => {
    expect(await denials()).toEqual([]);
    const asApi = createRedisConnection(urlAs(apiUser));
    try {
      await admin.set(`${keyPrefix}:secret`, "vectors are the workers'", 'EX', 60);
      await expect(asApi.get(`${keyPrefix}:secret`)).rejects.toThrow(/NOPERM/);
      await expect(asApi.get('some-other-app:secret')).rejects.toThrow(/NOPERM/);
      await expect(asApi.call('CLIENT', 'LIST')).rejects.toThrow(/NOPERM/);
      expect(await asApi.exists(`${queuePrefix}:anything`)).toBe(0);
    } finally {
      asApi.disconnect();
    }
    expect(
      (await denials()).map((d) => `${d.user === apiUser ? 'api' : 'worker'} ${d.reason} ${d.object}`).sort(),
    ).toEqual(['api command client|list', `api key ${keyPrefix}:secret`, 'api key some-other-app:secret']);
  });
});
