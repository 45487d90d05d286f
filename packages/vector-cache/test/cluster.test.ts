import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { Redis } from 'ioredis';
import { UnavailableError, dot, loadConfig } from '@dotrank/core';
import { redisClusterUnavailable, startRedisCluster, uniquePrefix, type OwnRedisCluster } from '@dotrank/core/testing';
import { RedisVectorStore, vectorStoreOptionsFromConfig } from '../src/redis-store.js';
import { createRedisConnection } from '../src/connection.js';

// The passage-vector cache on a real Redis Cluster (3 masters, 3 replicas, started by this file): reads and writes
// spread over the slots, and a master's death leaves the other slots serving.
const calculateSlot = createRequire(import.meta.url)('cluster-key-slot') as (key: string) => number;
const unavailable = redisClusterUnavailable();
if (unavailable) console.log(`skipping the Redis Cluster tests: ${unavailable}`);

const DIM = 32;
const N = 600;
const prefix = uniquePrefix('vcluster');
let cluster: OwnRedisCluster;
let store: RedisVectorStore;

const vector = (seed: number) => Float32Array.from({ length: DIM }, (_, i) => Math.sin(seed * 13 + i));
const entries = Array.from({ length: N }, (_, i) => ({
  key: { id: `p${i}`, text: `passage ${i}` },
  vector: vector(i),
}));
const query = vector(-1);

describe.skipIf(unavailable)('RedisVectorStore on a Redis Cluster', () => {
  beforeAll(async () => {
    cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
    // configured as a deployment would be: REDIS_CLUSTER_NODES (any node will do), through the config mapping
    const config = loadConfig({ REDIS_CLUSTER_NODES: cluster.seeds, DOTRANK_KEY_PREFIX: prefix });
    store = new RedisVectorStore(
      vectorStoreOptionsFromConfig(config, { modelId: 'test/model', revision: 'r1', dimension: DIM }),
    );
  }, 30_000);

  afterAll(async () => {
    await store?.close();
    await cluster?.stop();
  });

  it('writes and reads vectors spread over every master, batched per slot, without the fast reader', async () => {
    expect(store.fastReads).toBe(false);
    expect(store.fastReadsOff).toMatch(/Redis Cluster/);
    await store.setMany(entries);
    // every master holds a share (the keys carry no hash tag)
    const masters = (await cluster.nodes()).filter((n) => n.role === 'master');
    expect(masters).toHaveLength(3);
    for (const m of masters) {
      const node = new Redis({ port: m.port, lazyConnect: true });
      const keys = Number(await node.dbsize());
      node.disconnect();
      expect(keys).toBeGreaterThan(N / 6);
    }
    const got = await store.getMany(entries.map((e) => e.key));
    got.forEach((v, i) => expect(Array.from(v!)).toEqual(Array.from(entries[i]!.vector)));
    const { scores, hit } = await store.scoreMany(
      entries.map((e) => ({ id: e.key.id, text: e.key.text })),
      Promise.resolve(query),
    );
    entries.forEach((e, i) => {
      expect(hit[i]).toBe(1);
      expect(scores[i]).toBeCloseTo(dot(query, e.vector), 5);
    });
    expect(store.stats()).toMatchObject({ hits: 2 * N, misses: 0, rejected: 0 });
  });

  it('a URL with ?cluster=1 naming one node reaches the whole cluster', async () => {
    const client = createRedisConnection(cluster.url);
    try {
      const values = await Promise.all(entries.slice(0, 50).map((e) => client.getBuffer(store.keyFor(e.key))));
      expect(values.every((v) => v !== null && v.length >= DIM)).toBe(true);
    } finally {
      client.disconnect();
    }
  });

  it('while a master is dead the other slots keep serving; after failover every vector is there', async () => {
    const owners = await cluster.slotMasters();
    const ownerOf = (e: (typeof entries)[number]) => owners[calculateSlot(store.keyFor(e.key))];
    const victim = ownerOf(entries[0]!)!;
    const elsewhere = entries.filter((e) => ownerOf(e) !== victim);
    const onVictim = entries.filter((e) => ownerOf(e) === victim);
    expect(elsewhere.length).toBeGreaterThan(N / 3);
    await cluster.killNode(victim);
    // at once, before any replica took over: the other slots answer, complete and right
    const before = await store.getMany(elsewhere.map((e) => e.key));
    before.forEach((v, i) => expect(Array.from(v!)).toEqual(Array.from(elsewhere[i]!.vector)));
    // the dead master's slots: a clear UnavailableError (never wrong values) until the replica is promoted
    const during: (Float32Array | undefined)[] | Error = await store
      .getMany(onVictim.map((e) => e.key))
      .catch((error: Error) => error);
    if (during instanceof Error) expect(during).toBeInstanceOf(UnavailableError);
    else during.forEach((v, i) => expect(Array.from(v!)).toEqual(Array.from(onVictim[i]!.vector)));
    await cluster.waitHealthy();
    expect((await cluster.nodes()).filter((n) => n.role === 'master' && !n.killed)).toHaveLength(3);
    // the replica had every vector (written long before the kill): all of them hit, on the same client
    const after = await store.getMany(entries.map((e) => e.key));
    after.forEach((v, i) => expect(Array.from(v!)).toEqual(Array.from(entries[i]!.vector)));
    // and writes reach the new master
    await store.setMany([{ key: { id: 'late', text: 'late' }, vector: vector(7) }]);
    expect(Array.from((await store.getMany([{ id: 'late', text: 'late' }]))[0]!)).toEqual(Array.from(vector(7)));
  }, 30_000);
});
