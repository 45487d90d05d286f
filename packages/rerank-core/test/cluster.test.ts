import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { Redis } from 'ioredis';
import { DEGRADED_REASONS, DotrankError } from '@dotrank/core';
import {
  redisClusterUnavailable,
  startRedisCluster,
  tinyModelDir,
  uniquePrefix,
  type OwnRedisCluster,
} from '@dotrank/core/testing';
import { loadEncoder, type Encoder } from '@dotrank/encoder';
import { MemoryVectorStore, RedisVectorStore, createRedisConnection } from '@dotrank/vector-cache';
import { InProcessReranker } from '../src/in-process.js';
import { QueueReranker } from '../src/producer.js';
import { RerankTimeoutError } from '../src/errors.js';
import { degradationFor } from '../src/outcome.js';
import { startRerankWorker, type RerankWorker } from '../src/processor.js';
import { heartbeatKey, queueNames } from '../src/wire.js';
import type { RerankRequest, RerankResult } from '../src/types.js';
import { API_COMMANDS, WORKER_COMMANDS, makeCandidates, setUser } from './queue-helpers.js';

/** What a cluster client needs besides the single-Redis ACL lists: the slot map (ioredis asks at connect and after MOVED) , the cluster's state (its ready check) and READONLY (sent to each replica it connects to). */
const CLUSTER_COMMANDS = 'cluster|slots cluster|info readonly';

// The whole queue (producer -> BullMQ -> processor, vectors in the cache) on a real Redis Cluster started by this file
// (3 masters, 3 replicas, cluster-node-timeout 1 s), and the death of the master that holds the queue, under load.
const calculateSlot = createRequire(import.meta.url)('cluster-key-slot') as (key: string) => number;
const unavailable = redisClusterUnavailable();
if (unavailable) console.log(`skipping the Redis Cluster queue tests: ${unavailable}`);

const DEADLINE_MS = 1500;
const queuePrefix = uniquePrefix('qcluster');
const keyPrefix = uniquePrefix('vcluster');
let cluster: OwnRedisCluster;
let encoder: Encoder;
let store: RedisVectorStore;
let worker: RerankWorker;
let producer: QueueReranker;

const QUERIES = ['supersonic boundary layer', 'shell buckling under pressure', 'jet nozzle turbulence', 'wing flutter'];
const requests: RerankRequest[] = Array.from({ length: 12 }, (_, i) => ({
  query: QUERIES[i % QUERIES.length]!,
  candidates: makeCandidates(30, 100 + i),
  fusion: 'tasb',
  k: 20,
}));
/** Each request reranked in this process from freshly encoded vectors: what the queue must answer. */
let expected: RerankResult[];

/** The result is the in-process one: same ids in the same order, same scores (to float precision). */
function expectSame(got: RerankResult, want: RerankResult): void {
  expect(got.results.map((r) => r.id)).toEqual(want.results.map((r) => r.id));
  got.results.forEach((r, i) => expect(r.score).toBeCloseTo(want.results[i]!.score, 4));
}

/** Keys on every live master of the cluster (SCAN per node: a cluster client's SCAN sees one node only). */
async function keysOnMasters(): Promise<Map<number, string[]>> {
  const out = new Map<number, string[]>();
  for (const m of (await cluster.nodes()).filter((n) => n.role === 'master' && !n.killed)) {
    const node = new Redis({ port: m.port, lazyConnect: true });
    out.set(m.port, await node.keys('*'));
    node.disconnect();
  }
  return out;
}

describe.skipIf(unavailable)('the rerank queue on a Redis Cluster', () => {
  beforeAll(async () => {
    [cluster, encoder] = await Promise.all([
      startRedisCluster({ masters: 3, replicasPerMaster: 1 }),
      loadEncoder(tinyModelDir(), { intraOpThreads: 1 }),
    ]);
    const reference = new InProcessReranker({ encoder, store: new MemoryVectorStore() });
    expected = [];
    for (const req of requests) expected.push(await reference.rerank(req));
    store = new RedisVectorStore({
      url: cluster.url,
      keyPrefix,
      modelId: encoder.modelId,
      revision: encoder.revision,
      dimension: encoder.dimension,
    });
    worker = await startRerankWorker({ connection: cluster.url, queuePrefix, encoder, store, concurrency: 4 });
    producer = new QueueReranker({ connection: cluster.url, queuePrefix, deadlineMs: DEADLINE_MS });
    await producer.ready();
  }, 40_000);

  afterAll(async () => {
    await producer?.close();
    await worker?.close();
    await store?.close();
    await encoder?.close();
    await cluster?.stop();
  });

  it('reranks through the queue with the in-process results; queue keys share one slot, vectors spread', async () => {
    expect(worker.names.prefix).toBe(`{${queuePrefix}}`);
    for (let i = 0; i < requests.length; i++) {
      const cold = await producer.rerank(requests[i]!);
      expectSame(cold, expected[i]!);
      expect(cold.cache.misses).toBe(30);
      const warm = await producer.rerank(requests[i]!);
      expectSame(warm, expected[i]!);
      expect(warm.cache.hits).toBe(30);
    }
    const keys = [...(await keysOnMasters()).entries()];
    const queueSlot = calculateSlot(`{${queuePrefix}}`);
    const queueKeys = keys.flatMap(([, ks]) => ks.filter((k) => k.startsWith(`{${queuePrefix}}:`)));
    expect(queueKeys.some((k) => k.endsWith(':heartbeats'))).toBe(true);
    expect(new Set(queueKeys.map(calculateSlot))).toEqual(new Set([queueSlot]));
    // the vectors are on every master; nothing outside the two prefixes was written
    for (const [, ks] of keys) expect(ks.filter((k) => k.startsWith(`${keyPrefix}:vec:`)).length).toBeGreaterThan(10);
    for (const [, ks] of keys)
      expect(ks.filter((k) => !k.startsWith(`{${queuePrefix}}:`) && !k.startsWith(`${keyPrefix}:`))).toEqual([]);
  }, 30_000);

  it('least-privilege ACL users (created on every node) rerank on the cluster with the README lists + cluster|slots, cluster|info, readonly', async () => {
    const tag = randomBytes(4).toString('hex');
    const [apiUser, workerUser, password] = [`api-${tag}`, `worker-${tag}`, randomBytes(12).toString('hex')];
    const aclQueue = `${queuePrefix}-acl`;
    const queueKeys = `~{${aclQueue}}:*`;
    const nodes = (await cluster.nodes()).filter((n) => !n.killed);
    const admins = nodes.map((n) => new Redis({ port: n.port }));
    for (const admin of admins) {
      await admin.call(...setUser(apiUser, password, [queueKeys], `${API_COMMANDS} ${CLUSTER_COMMANDS}`));
      await admin.call(
        ...setUser(workerUser, password, [queueKeys, `~${keyPrefix}:*`], `${WORKER_COMMANDS} ${CLUSTER_COMMANDS}`),
      );
      await admin.call('ACL', 'LOG', 'RESET');
    }
    const urlAs = (user: string) => cluster.url.replace('redis://', `redis://${user}:${password}@`);
    const aclStore = new RedisVectorStore({
      url: urlAs(workerUser),
      keyPrefix,
      modelId: encoder.modelId,
      revision: encoder.revision,
      dimension: encoder.dimension,
    });
    const aclWorker = await startRerankWorker({
      connection: urlAs(workerUser),
      queuePrefix: aclQueue,
      encoder,
      store: aclStore,
    });
    const aclProducer = new QueueReranker({ connection: urlAs(apiUser), queuePrefix: aclQueue, deadlineMs: 5000 });
    try {
      await aclProducer.ready();
      for (const i of [0, 1]) expectSame(await aclProducer.rerank(requests[i]!), expected[i]!);
      const fresh = { ...requests[2]!, candidates: makeCandidates(10, 999) }; // misses: the worker writes vectors
      const want = await new InProcessReranker({ encoder, store: new MemoryVectorStore() }).rerank(fresh);
      expectSame(await aclProducer.rerank(fresh), want);
      // the API user cannot read a vector
      const api = createRedisConnection(urlAs(apiUser));
      await expect(api.get(`${keyPrefix}:vec:x`)).rejects.toThrow(/NOPERM/);
      api.disconnect();
      for (const admin of admins) {
        const log = (await admin.call('ACL', 'LOG')) as unknown[][];
        const ours = log.map((e) => e.map(String).join(' ')).filter((e) => e.includes(tag) && !e.includes(':vec:x'));
        expect(ours).toEqual([]);
      }
    } finally {
      await aclProducer.close();
      await aclWorker.close();
      await aclStore.close();
      for (const admin of admins) admin.disconnect();
    }
  }, 30_000);

  it('a master dies under load: every request answered (right or degraded), the lost job counted, workers back', async () => {
    const victim = await cluster.masterOf(calculateSlot(`{${queuePrefix}}`));
    const nodes = await cluster.nodes();
    const victimId = nodes.find((n) => n.port === victim)!.id;
    const victimReplica = nodes.find((n) => n.role === 'replica' && n.masterId === victimId)!;
    expect(victimReplica).toBeDefined();
    // a second queue whose keys live on the same master, with a (played) live worker but none that takes its jobs:
    // its job waits on the master when the master dies
    let lostPrefix = '';
    for (let i = 0; !lostPrefix; i++) {
      const p = `${queuePrefix}-lost${i}`;
      if ((await cluster.masterOf(calculateSlot(`{${p}}`))) === victim) lostPrefix = p;
    }
    const admin = createRedisConnection(cluster.url);
    await admin.zadd(heartbeatKey(queueNames(lostPrefix, { cluster: true })), Date.now() + 60_000, 'played-worker');
    // its deadline outlasts the failover, so that the producer can see the job is gone (and count it)
    const lostProducer = new QueueReranker({ connection: cluster.url, queuePrefix: lostPrefix, deadlineMs: 5000 });
    await lostProducer.ready();

    type Outcome = { ok: RerankResult; i: number; ms: number } | { error: unknown; i: number; ms: number };
    const outcomes: Outcome[] = [];
    let issued = 0;
    let stopAfter = Infinity;
    const one = async () => {
      while (issued < stopAfter) {
        const i = issued++ % requests.length;
        const start = Date.now();
        try {
          outcomes.push({ ok: await producer.rerank(requests[i]!), i, ms: Date.now() - start });
        } catch (error) {
          outcomes.push({ error, i, ms: Date.now() - start });
        }
      }
    };
    const load = Promise.all(Array.from({ length: 6 }, one));
    while (outcomes.length < 100) await new Promise((r) => setTimeout(r, 10));

    // the replica falls behind (stopped, its link cut: a stopped process would still receive into its socket), a job
    // is written on the master only, then the master dies
    cluster.pauseNode(victimReplica.port);
    const master = new Redis({ port: victim, lazyConnect: true });
    expect(await master.call('CLIENT', 'KILL', 'TYPE', 'replica')).toBe(1);
    master.disconnect();
    const lost = lostProducer.rerank({ query: 'lost', candidates: makeCandidates(5, 7), fusion: 'tasb' }).then(
      () => 'answered',
      (error: unknown) => error,
    );
    while ((await lostProducer.queue.getWaitingCount()) < 1) await new Promise((r) => setTimeout(r, 5));
    await cluster.killNode(victim);
    const killedAt = outcomes.length;
    cluster.resumeNode(victimReplica.port);
    await cluster.waitHealthy(20_000);
    stopAfter = issued + 150; // a few hundred reranks in all, the last ones after the failover
    await load;

    // the lost job: noticed at its deadline, answered as a timeout, counted
    const lostOutcome = await lost;
    expect(lostOutcome).toBeInstanceOf(RerankTimeoutError);
    for (let i = 0; i < 100 && lostProducer.lostJobs === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(lostProducer.lostJobs).toBe(1);

    expect(outcomes.length).toBeGreaterThanOrEqual(250);
    const failed = outcomes.filter((o): o is Extract<Outcome, { error: unknown }> => 'error' in o);
    // every request answered within its deadline: right, or a clear degradation (never a raw error, never hanging)
    for (const o of outcomes) expect(o.ms).toBeLessThan(DEADLINE_MS + 1000);
    for (const f of failed) {
      expect(f.error).toBeInstanceOf(DotrankError);
      expect(DEGRADED_REASONS).toContain(degradationFor(f.error).reason);
    }
    for (const o of outcomes) if ('ok' in o) expectSame(o.ok, expected[o.i]!);
    expect(failed.length).toBeGreaterThan(0); // the kill was felt...
    expect(outcomes.slice(0, killedAt).filter((o) => 'error' in o)).toEqual([]); // ...and only after it

    // workers reconnected: reranks succeed again on the promoted replica
    let back: RerankResult | undefined;
    for (let attempt = 0; !back && attempt < 40; attempt++) {
      back = await producer.rerank(requests[0]!).catch(() => undefined);
      if (!back) await new Promise((r) => setTimeout(r, 250));
    }
    expect(back).toBeDefined();
    for (let i = 0; i < requests.length; i++) expectSame(await producer.rerank(requests[i]!), expected[i]!);
    console.log(
      `failover under load: ${outcomes.length} reranks, ${failed.length} degraded ` +
        `(${[...new Set(failed.map((f) => degradationFor(f.error).reason))].join(', ')}), lost jobs counted: ` +
        `${lostProducer.lostJobs} (played) + ${producer.lostJobs} (load)`,
    );
    await lostProducer.close();
    admin.disconnect();
  }, 45_000);
});
