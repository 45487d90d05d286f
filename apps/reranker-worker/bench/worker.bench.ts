// Worker benchmark (real Redis, real ONNX Runtime, full-size random-weight TAS-B model, worker in its own process):
//  1. cold-cache `warm` job throughput (passages/s) next to the bare encoder's throughput on the same texts, interleaved;
//  2. end-to-end rerank latency (enqueue -> result, warm cache) for 100 and 1,000 candidates next to the bare
//     query-encoding latency measured in the same run, interleaved query by query, for each cache dtype (float32,
//     float16, int8: a worker of its own each), with where the time goes (queue, encoding, read, answer) and, beside
//     it, BullMQ's own round trip between two processes here (bullmq-floor-worker.mjs: a processor that only returns);
//  3. throughput with 8 reranks in flight against workers taking 1, 2 and 4 jobs at once (DOTRANK_WORKER_CONCURRENCY).
// Env: BENCH_WARM_PASSAGES, BENCH_ITER_100, BENCH_ITER_1000, BENCH_DTYPES, BENCH_CONCURRENCY, BENCH_IN_FLIGHT,
//      BENCH_LOAD_JOBS, BENCH_PROFILE_DIR (a V8 CPU profile of each worker), BENCH_DIRECT_REPLIES=0 (results through
//      BullMQ's events stream only, as before direct replies: to measure what they save).
// Run: npx nx run reranker-worker:bench   (or: npm run bench -w apps/reranker-worker). REDIS_URL, default redis://127.0.0.1:6379.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { findRepoRoot, type Candidate, type DotrankConfig } from '@dotrank/core';
import { loadEncoder } from '@dotrank/encoder';
import { QueueReranker, enqueueWarm } from '@dotrank/rerank-core';
import { RedisVectorStore, createRedisConnection } from '@dotrank/vector-cache';

/** The cache encodings DOTRANK_CACHE_DTYPE takes. */
type VectorDtype = DotrankConfig['DOTRANK_CACHE_DTYPE'];
import { deleteKeysWithPrefix } from '@dotrank/core/testing';

const root = findRepoRoot(new URL('.', import.meta.url).pathname)!;
const modelDir = process.env['DOTRANK_BENCH_MODEL'] ?? join(root, 'tools', 'fixtures', 'out', 'full-tasb');
if (!existsSync(join(modelDir, 'model.onnx'))) {
  console.log(`full-size model not found at ${modelDir}; make it with (see tools/fixtures/README.md):`);
  console.log('  tools/fixtures/.venv/bin/python tools/fixtures/make_encoder_fixtures.py --full-only');
  process.exit(0);
}

const url = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const prefix = `dotrank-bench-worker-${randomBytes(4).toString('hex')}`;
const threads = Number(process.env['DOTRANK_ORT_THREADS'] || availableParallelism());
const WARM_N = Number(process.env['BENCH_WARM_PASSAGES'] ?? 500);
const ITER_100 = Number(process.env['BENCH_ITER_100'] ?? 40);
const ITER_1000 = Number(process.env['BENCH_ITER_1000'] ?? 20);
const profileDir = process.env['BENCH_PROFILE_DIR'];
const CONCURRENCY = (process.env['BENCH_CONCURRENCY'] ?? '1,2,4').split(',').filter(Boolean).map(Number);
const IN_FLIGHT = Number(process.env['BENCH_IN_FLIGHT'] ?? 8);
const LOAD_JOBS = Number(process.env['BENCH_LOAD_JOBS'] ?? 160);
const DTYPES = (process.env['BENCH_DTYPES'] ?? 'float32,float16,int8').split(',').filter(Boolean) as VectorDtype[];
/** The goals (#22): warm overhead over one query encoding, p50, ms. */
const GOAL_MS: Record<number, number> = { 100: 5, 1000: 12 };

const WORDS = (
  'the of and in to a is for on with as by at from an be this that are was which or it its these has have can also ' +
  'boundary layer flow heat transfer shock wave supersonic wing vibration shell buckling pressure nozzle jet turbulence ' +
  'laminar velocity profile measured theory experiment plate cylinder mach number temperature surface stress'
).split(' ');
let seed = 12345;
const rnd = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32;
const sentence = (n: number) => Array.from({ length: n }, () => WORDS[Math.floor(rnd() * WORDS.length)]!).join(' ');
// MS MARCO-like passages: ~55 words (~70 tokens)
const passages: Candidate[] = Array.from({ length: Math.max(WARM_N, 1000) }, (_, i) => ({
  id: `p${i}`,
  text: `${sentence(55)}.`,
  score: 0,
}));
const queries = Array.from({ length: 200 }, () => sentence(6));

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const f = (x: number) => x.toFixed(1);

async function deleteKeys(): Promise<void> {
  const redis = createRedisConnection(url);
  await deleteKeysWithPrefix(redis, prefix);
  await redis.quit();
}

const env = {
  ...process.env,
  REDIS_URL: url,
  DOTRANK_QUEUE_PREFIX: prefix,
  DOTRANK_KEY_PREFIX: prefix,
  DOTRANK_LOG_LEVEL: 'warn',
};

/** A worker in its own process, resolved once it is ready. */
async function startWorker(dtype: VectorDtype, concurrency = 1): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      // BENCH_PROFILE_DIR: a V8 CPU profile of each worker, to see where a job's time goes
      ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
      join(root, 'apps/reranker-worker/bin/reranker-worker.js'),
      '--model',
      modelDir,
      '--threads',
      String(threads),
    ],
    {
      env: { ...env, DOTRANK_CACHE_DTYPE: dtype, DOTRANK_WORKER_CONCURRENCY: String(concurrency) },
      stdio: ['ignore', 'inherit', 'pipe'],
    },
  );
  running.add(child);
  child.once('exit', () => running.delete(child));
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('worker ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`worker exited (${code}):\n${out}`)));
  });
  return child;
}

async function stopWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

const running = new Set<ChildProcess>();
// never leave a worker or our keys behind when interrupted
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const child of running) child.kill('SIGKILL');
    void deleteKeys().finally(() => process.exit(130));
  });
}
let worker = await startWorker('float32');
const encoder = await loadEncoder(modelDir, { intraOpThreads: threads });
const producer = new QueueReranker({
  connection: url,
  queuePrefix: prefix,
  maxCandidates: 1000,
  directReplies: process.env['BENCH_DIRECT_REPLIES'] !== '0',
});
await producer.ready();

/** Fills the cache the worker of `dtype` reads with random vectors for the first `n` passages. */
async function fillCache(dtype: VectorDtype, n: number): Promise<void> {
  const store = new RedisVectorStore({
    url,
    keyPrefix: prefix,
    modelId: encoder.modelId,
    revision: encoder.revision,
    dimension: encoder.dimension,
    dtype,
  });
  let s = 7;
  const rand = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5;
  const entries = passages.slice(0, n).map((p) => {
    const vector = new Float32Array(encoder.dimension);
    for (let i = 0; i < vector.length; i++) vector[i] = rand();
    return { key: { id: p.id, text: p.text }, vector };
  });
  await store.setMany(entries);
  await store.close();
}

async function latencyPhase(dtype: VectorDtype, floor: Map<number, number>): Promise<void> {
  await stopWorker(worker);
  worker = await startWorker(dtype);
  await fillCache(dtype, 1000);
  for (const [n, iterations] of [
    [100, ITER_100],
    [1000, ITER_1000],
  ] as const) {
    const candidates = passages.slice(0, n).map((p, i) => ({ ...p, score: n - i }));
    // a text no other phase asks for: neither the worker's nor Redis' query cache knows it
    const queryOf = (i: number) => `${queries[(i + 10) % queries.length]!} ${dtype} ${n} ${i}`;
    for (let i = 0; i < 3; i++) await producer.rerank({ query: `warm-up ${queryOf(i)}`, candidates, fusion: 'tasb' });
    const e2e: number[] = [];
    const bare: number[] = [];
    const side = { encode: [] as number[], read: [] as number[], score: [] as number[], total: [] as number[] };
    const queued: number[] = [];
    const returned: number[] = [];
    for (let i = 0; i < iterations; i++) {
      let s = performance.now();
      await encoder.encodeQueries([`bare ${queryOf(i)}`]);
      bare.push(performance.now() - s);
      s = performance.now();
      const r = await producer.rerank({ query: queryOf(i), candidates, fusion: 'tasb' });
      const ms = performance.now() - s;
      e2e.push(ms);
      if (r.cache.misses !== 0) throw new Error(`cache not warm: ${r.cache.misses} misses`);
      side.encode.push(r.timings.encodeQueryMs);
      side.read.push(r.timings.cacheReadMs);
      side.score.push(r.timings.scoreMs);
      side.total.push(r.timings.totalMs);
      const wait = r.timings.queueWaitMs ?? 0;
      queued.push(wait);
      returned.push(ms - wait - r.timings.totalMs);
    }
    const goal = GOAL_MS[n]!;
    const p50 = pct(e2e, 50);
    const b50 = pct(bare, 50);
    console.log(`\n${n} candidates, warm ${dtype} cache, ${iterations} queries (ms)`);
    console.log(`  end-to-end       p50 ${f(p50)}  p95 ${f(pct(e2e, 95))}`);
    console.log(`  bare query encode p50 ${f(b50)}  p95 ${f(pct(bare, 95))}`);
    console.log(
      `  ratio p50 ${(p50 / b50).toFixed(2)}x, overhead p50 ${f(p50 - b50)} ms (goal <= +${goal} ms: ${p50 <= b50 + goal ? 'met' : 'NOT met'}); ` +
        `BullMQ's own round trip here (a processor that returns ${n} scores at once, in another process): p50 ${f(floor.get(n)!)} ms`,
    );
    console.log(
      `  where it goes, p50: enqueue to job start ${f(pct(queued, 50))}; in the worker: encode query ${f(pct(side.encode, 50))}, cache read ${f(pct(side.read, 50))} (alongside), score ${f(pct(side.score, 50))}, total ${f(pct(side.total, 50))}; job end to answer ${f(pct(returned, 50))}`,
    );
  }
}

/**
 * BullMQ's own round trip between two processes on this machine, p50 per result size: add a job, a worker process
 * (bullmq-floor-worker.mjs) returns `size` positions and scores at once, the producer hears of it through QueueEvents.
 * The floor under any rerank through the queue.
 */
async function bullmqFloor(sizes: readonly number[]): Promise<Map<number, number>> {
  const child = spawn(
    process.execPath,
    [join(root, 'apps/reranker-worker/bench/bullmq-floor-worker.mjs'), url, prefix],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  running.add(child);
  child.once('exit', () => running.delete(child));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`BullMQ floor worker exited (${code})`)));
  });
  // BullMQ does not close connections it was given: they are closed below, or the process would not exit
  const connections = [new Redis(url, { maxRetriesPerRequest: null }), new Redis(url, { maxRetriesPerRequest: null })];
  const queue = new Queue('floor', { connection: connections[0]!, prefix });
  const events = new QueueEvents('floor', { connection: connections[1]!, prefix });
  const floor = new Map<number, number>();
  try {
    await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
    for (const size of sizes) {
      const times: number[] = [];
      for (let i = 0; i < 120; i++) {
        const s = performance.now();
        const job = await queue.add('floor', { size }, { removeOnComplete: { age: 60 } });
        await job.waitUntilFinished(events, 10_000);
        if (i >= 20) times.push(performance.now() - s);
      }
      floor.set(size, pct(times, 50));
    }
  } finally {
    await stopWorker(child);
    await Promise.all([events.close(), queue.close()]);
    for (const connection of connections) connection.disconnect();
  }
  return floor;
}

async function throughputPhase(concurrency: number): Promise<void> {
  await stopWorker(worker);
  worker = await startWorker('float32', concurrency);
  await fillCache('float32', 100);
  const candidates = passages.slice(0, 100).map((p, i) => ({ ...p, score: 100 - i }));
  const queryOf = (i: number) => `${queries[i % queries.length]!} load ${concurrency} ${i}`;
  for (let i = 0; i < 3; i++) await producer.rerank({ query: `warm-up ${queryOf(i)}`, candidates, fusion: 'tasb' });
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  const client = async () => {
    while (next < LOAD_JOBS) {
      const i = next++;
      const s = performance.now();
      await producer.rerank({ query: queryOf(i), candidates, fusion: 'tasb' });
      latencies.push(performance.now() - s);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, client));
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `  DOTRANK_WORKER_CONCURRENCY=${concurrency}: ${f(LOAD_JOBS / seconds)} jobs/s, p50 ${f(pct(latencies, 50))} ms, p99 ${f(pct(latencies, 99))} ms`,
  );
}

try {
  console.log(
    `model ${encoder.modelId} (dim ${encoder.dimension}), ORT threads ${threads} (worker and bench each, used in turn), cores ${availableParallelism()}`,
  );

  // 1. throughput: bare encoder and cold-cache warm jobs over the same texts, interleaved chunk by chunk so that a
  //    change in the machine's speed during the run weighs on both alike
  const warmSet = passages.slice(0, WARM_N);
  const CHUNK = 100;
  await encoder.encodePassages(warmSet.slice(0, 32).map((p) => p.text)); // session warm-up
  let bareMs = 0;
  let warmMs = 0;
  let encoded = 0;
  for (let start = 0; start < warmSet.length; start += CHUNK) {
    const chunk = warmSet.slice(start, start + CHUNK);
    let t = performance.now();
    for (let i = 0; i < chunk.length; i += 32) await encoder.encodePassages(chunk.slice(i, i + 32).map((p) => p.text));
    bareMs += performance.now() - t;
    t = performance.now();
    const run = await enqueueWarm(chunk, { connection: url, queuePrefix: prefix, chunkSize: CHUNK });
    const progress = await run.wait();
    await run.close();
    warmMs += performance.now() - t;
    if (progress.failedChunks > 0) throw new Error(`${progress.failedChunks} warm chunks failed`);
    encoded += progress.encoded;
  }
  const bareRate = warmSet.length / (bareMs / 1000);
  const warmRate = encoded / (warmMs / 1000);
  console.log('\ncold-cache warm throughput (passages/s)');
  console.log(
    `  warm jobs: ${f(warmRate)}   bare encoder: ${f(bareRate)}   ratio ${(warmRate / bareRate).toFixed(2)}x (goal >= 0.9x)   [${encoded} passages, jobs of ${CHUNK}, interleaved with the bare encoder]`,
  );

  // 2. latency with a warm cache, per cache dtype: a worker of its own for each (DOTRANK_CACHE_DTYPE), its cache
  //    filled with random vectors (a read and a dot product cost the same whatever the values, and no passage needs
  //    encoding); every query text is new to the worker, so its query-vector cache never answers
  const floor = await bullmqFloor([100, 1000]);
  for (const dtype of DTYPES) await latencyPhase(dtype, floor);

  // 3. throughput under concurrent load: IN_FLIGHT reranks of 100 candidates outstanding at all times, against
  //    workers taking 1, 2, 4 jobs at once (DOTRANK_WORKER_CONCURRENCY): jobs run at once can share one batched
  //    query encoding, and one job's cache read overlaps another's encoding
  if (CONCURRENCY.length > 0) {
    console.log(`\nthroughput, ${IN_FLIGHT} reranks of 100 candidates in flight, ${LOAD_JOBS} jobs, float32 cache`);
    for (const concurrency of CONCURRENCY) await throughputPhase(concurrency);
  }
} finally {
  await producer.close();
  await encoder.close();
  for (const child of running) await stopWorker(child);
  await deleteKeys();
}
