import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { Cluster } from 'ioredis';
import { redisClusterUnavailable, startRedisCluster, uniquePrefix, type OwnRedisCluster } from '@dotrank/core/testing';
import { RedisExperimentStore } from '../src/redis-store.js';
import { takeEvents } from '../src/events.js';
import type { Impression } from '../src/types.js';

// The experiment store on a real Redis Cluster (3 masters, started by this file): each experiment's keys share one
// hash tag, so its MULTI, MGET and event script stay in one slot (no CROSSSLOT), while experiments spread over nodes.
const calculateSlot = createRequire(import.meta.url)('cluster-key-slot') as (key: string) => number;
const unavailable = redisClusterUnavailable();
if (unavailable) console.log(`skipping the experiment store's Redis Cluster test: ${unavailable}`);

const impression = (id: string, experiment: string): Impression => ({
  impressionId: id,
  experiment,
  mode: 'interleave',
  query: `q ${id}`,
  control: ['a'],
  treatment: ['b'],
  shown: [
    { docId: 'a', system: 'bm25' },
    { docId: 'b', system: 'tasb' },
  ],
  time: Date.now(),
});

let cluster: OwnRedisCluster;
const connections: Cluster[] = [];
const connect = () => {
  const [host, port] = cluster.seeds.split(',')[0]!.split(':');
  const client = new Cluster([{ host: host!, port: Number(port) }], { redisOptions: { maxRetriesPerRequest: 2 } });
  connections.push(client);
  return client;
};

describe.skipIf(unavailable)('RedisExperimentStore on a Redis Cluster', () => {
  beforeAll(async () => {
    cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 0 });
  }, 30_000);

  afterAll(async () => {
    for (const c of connections) c.disconnect();
    await cluster?.stop();
  });

  it('logs impressions and events of experiments on different masters; another process validates from Redis', async () => {
    const keyPrefix = uniquePrefix('exp-cluster');
    const names = ['alpha', 'beta', 'gamma', 'delta', 'epsilon'];
    const masters = new Set(await Promise.all(names.map((n) => cluster.masterOf(calculateSlot(`{${n}}`)))));
    expect(masters.size).toBeGreaterThan(1); // the experiments really are on different nodes
    const store = new RedisExperimentStore(connect(), { keyPrefix, maxEvents: 1000, retentionDays: 1 });
    // one flush carries impressions of every experiment: one MULTI per experiment
    await Promise.all(names.flatMap((n) => [1, 2, 3].map((i) => store.recordImpression(impression(`${n}-${i}`, n)))));
    expect(store.writeStats()).toMatchObject({ written: 15, failed: 0 });

    const other = new RedisExperimentStore(connect(), { keyPrefix, maxEvents: 1000, retentionDays: 1 });
    // ids of several experiments in one batch: one single-slot MGET per experiment
    const batch = names.map((n, i) => ({ impressionId: `${n}-2`, type: 'click', docId: 'b', eventId: `e${i}` }));
    expect(await takeEvents([...batch, batch[0]], other)).toEqual({ accepted: 5, duplicates: 1 });
    await expect(takeEvents({ impressionId: 'nope', type: 'click', docId: 'a' }, other)).rejects.toThrow(/nope/);
    expect(await other.experiments()).toEqual([...names].sort());
    for (const n of names) {
      expect((await other.impressions(n)).map((i) => i.impressionId)).toEqual([`${n}-1`, `${n}-2`, `${n}-3`]);
      expect((await other.events(n)).map((e) => e.impressionId)).toEqual([`${n}-2`]);
    }
  });
});
