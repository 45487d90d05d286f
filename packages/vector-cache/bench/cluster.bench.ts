// Vector cache on a Redis Cluster vs a single Redis, side by side in one run, both started here on this machine:
//  1. read + score of 1,000 cached 768-d float32 vectors (RedisVectorStore.scoreMany): p50 latency and CPU per read,
//     this process's and the Redis servers' (INFO cpu, summed over the nodes); rounds interleaved;
//  2. bytes per vector per dtype on the cluster (MEMORY USAGE on the node that holds each key), for sizing.
// Run: npm run bench:cluster -w packages/vector-cache   (BENCH_READS, default 300 per configuration)
import { createRequire } from 'node:module';
import { Redis } from 'ioredis';
import { startRedisCluster, startRedisServer } from '@dotrank/core/testing';
import { RedisVectorStore } from '../src/redis-store.js';
import { VECTOR_DTYPES, encodedByteLength } from '../src/codec.js';

const calculateSlot = createRequire(import.meta.url)('cluster-key-slot') as (key: string) => number;
const DIM = 768;
const N = 1000;
const READS = Number(process.env['BENCH_READS'] ?? 300);
const BLOCK = 10;
const MSMARCO = 8_841_823;

const vector = (seed: number) => Float32Array.from({ length: DIM }, (_, j) => Math.sin(seed * 31 + j));
const entries = Array.from({ length: N }, (_, i) => ({
  key: { id: `p${i}`, text: `passage ${i}` },
  vector: vector(i),
}));
const keys = entries.map((e) => e.key);
const query = vector(-1);

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

/** Seconds of CPU the Redis servers on these ports used so far (user + sys). */
async function serverCpu(clients: Redis[]): Promise<number> {
  let total = 0;
  for (const c of clients) {
    const info = await c.info('cpu');
    for (const field of ['used_cpu_user', 'used_cpu_sys'])
      total += Number(new RegExp(`${field}:([\\d.]+)`).exec(info)![1]);
  }
  return total;
}

interface Config {
  name: string;
  store: RedisVectorStore;
  servers: Redis[];
  wall: number[];
  cpu: number;
  serverCpu: number;
}

const single = await startRedisServer();
const cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 0 });
const masterPorts = cluster.ports;
const clusterServers = masterPorts.map((port) => new Redis({ port }));
const singleServer = new Redis(single.url);
const common = { keyPrefix: 'bench', modelId: 'bench/model', revision: 'r1', dimension: DIM };
const configs: Config[] = [
  { name: 'single Redis, fast reader (default)', url: single.url, servers: [singleServer] },
  { name: 'single Redis, ioredis MGET', url: single.url, servers: [singleServer], fastReads: false },
  { name: 'Redis Cluster, 3 masters (ioredis)', url: cluster.url, servers: clusterServers },
].map(({ name, url, servers, fastReads }) => ({
  name,
  store: new RedisVectorStore({ ...common, url, ...(fastReads === false ? { fastReads } : {}) }),
  servers,
  wall: [],
  cpu: 0,
  serverCpu: 0,
}));

try {
  await configs[0]!.store.setMany(entries);
  await configs[2]!.store.setMany(entries);
  for (const c of configs) {
    const { hit } = await c.store.scoreMany(keys, query); // warm-up, and every vector must be there
    if (hit.some((h) => h !== 1)) throw new Error(`${c.name}: not every vector cached`);
    for (let i = 0; i < 20; i++) await c.store.scoreMany(keys, query);
  }
  for (let done = 0; done < READS; done += BLOCK) {
    for (const c of configs) {
      const server0 = await serverCpu(c.servers);
      const cpu0 = process.cpuUsage();
      for (let i = 0; i < BLOCK; i++) {
        const t0 = performance.now();
        await c.store.scoreMany(keys, query);
        c.wall.push(performance.now() - t0);
      }
      const cpu = process.cpuUsage(cpu0);
      c.cpu += (cpu.user + cpu.system) / 1000;
      c.serverCpu += ((await serverCpu(c.servers)) - server0) * 1000;
    }
  }
  const base = configs[0]!;
  const perRead = (c: Config) => ({ p50: pct(c.wall, 0.5), p95: pct(c.wall, 0.95), cpu: c.cpu / c.wall.length });
  console.log(
    `read + score of ${N} cached ${DIM}-d float32 vectors, ${READS} reads each, interleaved in blocks of ${BLOCK}`,
  );
  console.log(
    'configuration                         | p50 ms | p95 ms | client CPU ms/read | Redis CPU ms/read | p50 vs fast | CPU vs fast',
  );
  for (const c of configs) {
    const r = perRead(c);
    const b = perRead(base);
    console.log(
      `${c.name.padEnd(37)} | ${r.p50.toFixed(2).padStart(6)} | ${r.p95.toFixed(2).padStart(6)} | ${r.cpu.toFixed(2).padStart(18)} | ${(c.serverCpu / c.wall.length).toFixed(2).padStart(17)} | ${(r.p50 / b.p50).toFixed(2).padStart(10)}x | ${(r.cpu / b.cpu).toFixed(2).padStart(10)}x`,
    );
  }

  // bytes per vector per dtype on the cluster: MEMORY USAGE on the master that holds each key
  const owners = await cluster.slotMasters();
  const byPort = new Map(masterPorts.map((p, i) => [p, clusterServers[i]!]));
  console.log(
    `\nmemory per ${DIM}-d vector on the cluster (MEMORY USAGE, ${N} keys per dtype), and for MS MARCO (${MSMARCO.toLocaleString('en')} passages)`,
  );
  console.log('dtype    | value bytes | bytes per key | MS MARCO GiB | per master (3) GiB');
  for (const dtype of VECTOR_DTYPES) {
    const store = new RedisVectorStore({ ...common, keyPrefix: `mem-${dtype}`, dtype, url: cluster.url });
    await store.setMany(entries);
    let total = 0;
    for (const k of keys) {
      const key = store.keyFor(k);
      total += Number(await byPort.get(owners[calculateSlot(key)]!)!.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
    }
    await store.close();
    const perKey = total / N;
    const gib = (perKey * MSMARCO) / 2 ** 30;
    console.log(
      `${dtype.padEnd(8)} | ${String(encodedByteLength(dtype, DIM)).padStart(11)} | ${perKey.toFixed(0).padStart(13)} | ${gib.toFixed(1).padStart(12)} | ${(gib / 3).toFixed(1).padStart(18)}`,
    );
  }
} finally {
  for (const c of configs) await c.store.close();
  for (const s of [...clusterServers, singleServer]) s.disconnect();
  await cluster.stop();
  await single.stop();
}
