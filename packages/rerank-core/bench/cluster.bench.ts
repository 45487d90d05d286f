// Warm rerank of 1,000 candidates end to end (QueueReranker -> BullMQ -> RerankProcessor -> result), on a Redis
// Cluster (3 masters, started here) vs a single Redis (started here), side by side in one run, requests interleaved;
// the bare query encoding measured in the same run for reference. Full-size model (tools/fixtures/out/full-tasb, or
// DOTRANK_BENCH_MODEL) when present, else the tiny fixture model (said so in the output). The caches are filled
// with random vectors (scoring costs the same whatever the values), so no passage is encoded.
// Run: npm run bench -w packages/rerank-core   (BENCH_ITER, default 30 reranks per configuration)
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { findRepoRoot } from '@dotrank/core';
import { startRedisCluster, startRedisServer, tinyModelDir } from '@dotrank/core/testing';
import { loadEncoder } from '@dotrank/encoder';
import { RedisVectorStore } from '@dotrank/vector-cache';
import { QueueReranker } from '../src/producer.js';
import { startRerankWorker, type RerankWorker } from '../src/processor.js';
import { makeCandidates } from '../src/testing/index.js';

const root = findRepoRoot(new URL('.', import.meta.url).pathname)!;
const fullModel = process.env['DOTRANK_BENCH_MODEL'] ?? join(root, 'tools', 'fixtures', 'out', 'full-tasb');
const full = existsSync(join(fullModel, 'model.onnx'));
const modelDir = full ? fullModel : tinyModelDir();
if (!full)
  console.log(`full-size model not found at ${fullModel}: using the tiny fixture model (figures not representative)`);
const ITER = Number(process.env['BENCH_ITER'] ?? 30);
const N = 1000;

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
const candidates = makeCandidates(N, 42, 55);
const QUERY_WORDS = 'supersonic boundary layer heat transfer shell buckling jet nozzle turbulence wing flutter'.split(
  ' ',
);
const queries = Array.from({ length: ITER + 5 }, (_, i) =>
  Array.from({ length: 6 }, (_, j) => QUERY_WORDS[(i * 7 + j * 3) % QUERY_WORDS.length]).join(' '),
);

const encoder = await loadEncoder(modelDir, { intraOpThreads: availableParallelism() });
const single = await startRedisServer();
const cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 0 });
interface Setup {
  name: string;
  store: RedisVectorStore;
  worker: RerankWorker;
  producer: QueueReranker;
  ms: number[];
}
const setups: Setup[] = [];
try {
  for (const [name, url] of [
    ['single Redis', single.url],
    ['Redis Cluster, 3 masters', cluster.url],
  ] as const) {
    const store = new RedisVectorStore({
      url,
      keyPrefix: 'bench',
      modelId: encoder.modelId,
      revision: encoder.revision,
      dimension: encoder.dimension,
    });
    let seed = 1;
    const rnd = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
    await store.setMany(
      candidates.map((c) => ({
        key: { id: c.id, text: c.text },
        vector: Float32Array.from({ length: encoder.dimension }, rnd),
      })),
    );
    const worker = await startRerankWorker({ connection: url, queuePrefix: 'bench', encoder, store, concurrency: 1 });
    const producer = new QueueReranker({ connection: url, queuePrefix: 'bench' });
    await producer.ready();
    setups.push({ name, store, worker, producer, ms: [] });
  }
  const bare: number[] = [];
  for (let i = 0; i < ITER + 5; i++) {
    for (const s of setups) {
      const t0 = performance.now();
      const result = await s.producer.rerank({ query: queries[i]!, candidates, fusion: 'tasb', k: 100 });
      if (result.cache.hits !== N) throw new Error(`${s.name}: ${result.cache.hits} cache hits, expected ${N}`);
      if (i >= 5) s.ms.push(performance.now() - t0);
    }
    const t0 = performance.now();
    await encoder.encodeQueries([queries[i]!]);
    if (i >= 5) bare.push(performance.now() - t0);
  }
  console.log(
    `warm rerank of ${N} candidates end to end, ${ITER} requests each (interleaved), model: ${full ? 'full-size' : 'tiny'}`,
  );
  console.log('configuration              | p50 ms | p95 ms | p50 over bare query encoding | p50 vs single');
  const base = pct(setups[0]!.ms, 0.5);
  const bareP50 = pct(bare, 0.5);
  for (const s of setups) {
    const p50 = pct(s.ms, 0.5);
    console.log(
      `${s.name.padEnd(26)} | ${p50.toFixed(1).padStart(6)} | ${pct(s.ms, 0.95).toFixed(1).padStart(6)} | ${`+${(p50 - bareP50).toFixed(1)} ms`.padStart(28)} | ${(p50 / base).toFixed(2).padStart(12)}x`,
    );
  }
  console.log(`bare query encoding (same run): p50 ${bareP50.toFixed(1)} ms`);
} finally {
  for (const s of setups) {
    await s.producer.close();
    await s.worker.close();
    await s.store.close();
  }
  await encoder.close();
  await cluster.stop();
  await single.stop();
}
// everything above is closed; with the full-size model, ONNX Runtime's thread pool was once seen to keep the process
// alive after the session closed (not with the tiny model), so end explicitly
process.exit(0);
