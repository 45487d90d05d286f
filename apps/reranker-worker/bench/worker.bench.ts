// Worker benchmark (real Redis, real ONNX Runtime, full-size random-weight TAS-B model, worker in its own process):
//  1. cold-cache `warm` job throughput (passages/s) next to the bare encoder's throughput on the same texts, interleaved;
//  2. end-to-end rerank latency (enqueue -> result, warm cache) for 100 and 1,000 candidates next to the bare
//     query-encoding latency measured in the same run, interleaved query by query.
// Run: npx nx run reranker-worker:bench   (or: npm run bench -w apps/reranker-worker). REDIS_URL, default redis://127.0.0.1:6379.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { findRepoRoot, type Candidate } from '@dotrank/core';
import { loadEncoder } from '@dotrank/encoder';
import { QueueReranker, enqueueWarm } from '@dotrank/rerank-core';
import { createRedisConnection } from '@dotrank/vector-cache';
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
const worker = spawn(
  process.execPath,
  [join(root, 'apps/reranker-worker/bin/reranker-worker.js'), '--model', modelDir, '--threads', String(threads)],
  {
    env,
    stdio: ['ignore', 'inherit', 'pipe'],
  },
);
// never leave the worker or our keys behind when interrupted
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    worker.kill('SIGKILL');
    void deleteKeys().finally(() => process.exit(130));
  });
}
let workerOut = '';
await new Promise<void>((resolve, reject) => {
  worker.stderr!.on('data', (d: Buffer) => {
    workerOut += d.toString();
    if (workerOut.includes('worker ready')) resolve();
  });
  worker.once('exit', (code) => reject(new Error(`worker exited (${code}):\n${workerOut}`)));
});
const encoder = await loadEncoder(modelDir, { intraOpThreads: threads });
const producer = new QueueReranker({ connection: url, queuePrefix: prefix, maxCandidates: 1000 });
await producer.ready();

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

  // 2. latency with a warm cache
  for (const [n, iterations] of [
    [100, ITER_100],
    [1000, ITER_1000],
  ] as const) {
    const candidates = passages.slice(0, n).map((p, i) => ({ ...p, score: n - i }));
    await producer.rerank({ query: queries[0]!, candidates, fusion: 'tasb' }); // make sure every vector is cached
    for (let i = 0; i < 3; i++) await producer.rerank({ query: queries[i]!, candidates, fusion: 'tasb' });
    const e2e: number[] = [];
    const bare: number[] = [];
    const workerEncode: number[] = [];
    const workerTotal: number[] = [];
    const cacheRead: number[] = [];
    for (let i = 0; i < iterations; i++) {
      const q = queries[(i + 10) % queries.length]!;
      let s = performance.now();
      await encoder.encodeQueries([q]);
      bare.push(performance.now() - s);
      s = performance.now();
      const r = await producer.rerank({ query: `${q} ${i}`, candidates, fusion: 'tasb' });
      e2e.push(performance.now() - s);
      if (r.cache.misses !== 0) throw new Error(`cache not warm: ${r.cache.misses} misses`);
      workerEncode.push(r.timings.encodeQueryMs);
      workerTotal.push(r.timings.totalMs);
      cacheRead.push(r.timings.cacheReadMs);
    }
    const goal = n === 100 ? 10 : 25;
    const p50 = pct(e2e, 50);
    const b50 = pct(bare, 50);
    console.log(`\n${n} candidates, warm cache, ${iterations} queries (ms)`);
    console.log(`  end-to-end       p50 ${f(p50)}  p95 ${f(pct(e2e, 95))}`);
    console.log(`  bare query encode p50 ${f(b50)}  p95 ${f(pct(bare, 95))}`);
    console.log(
      `  ratio p50 ${(p50 / b50).toFixed(2)}x, overhead p50 ${f(p50 - b50)} ms (goal <= +${goal} ms: ${p50 <= b50 + goal ? 'met' : 'NOT met'})`,
    );
    console.log(
      `  worker side p50: encode query ${f(pct(workerEncode, 50))}, cache read ${f(pct(cacheRead, 50))}, total ${f(pct(workerTotal, 50))}`,
    );
  }
} finally {
  await producer.close();
  await encoder.close();
  worker.kill('SIGTERM');
  await new Promise((r) => worker.once('exit', r));
  await deleteKeys();
}
