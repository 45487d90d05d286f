// Long-document benchmark (#21), full-size random-weight TAS-B model, real Redis, one process:
//  1. cold `warm` of long documents split into windows (windows/s) next to the bare encoder on the same window texts;
//  2. warm rerank of 100 long documents (windows read from the Redis cache, maxp) next to query encoding alone,
//     interleaved query by query;
//  3. Redis memory per long document for float32 / float16 / int8 caches (MEMORY USAGE of its windows' keys).
// Run: npm run bench:windows -w apps/reranker-worker   (REDIS_URL, default redis://127.0.0.1:6379; BENCH_MODEL)
import { existsSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { findRepoRoot, type Candidate } from '@dotrank/core';
import { deleteKeysWithPrefix } from '@dotrank/core/testing';
import { loadEncoder } from '@dotrank/encoder';
import { InProcessReranker, candidateWindowsFor, warmPassages } from '@dotrank/rerank-core';
import { RedisVectorStore, createRedisConnection } from '@dotrank/vector-cache';

const root = findRepoRoot(new URL('.', import.meta.url).pathname)!;
const modelDir = process.env['BENCH_MODEL'] ?? join(root, 'tools', 'fixtures', 'out', 'full-tasb');
if (!existsSync(join(modelDir, 'model.onnx'))) {
  console.log(`full-size model not found at ${modelDir}; make it with (see tools/fixtures/README.md):`);
  console.log('  tools/fixtures/.venv/bin/python tools/fixtures/make_encoder_fixtures.py --full-only');
  process.exit(0);
}
const url = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const prefix = `dotrank-bench-windows-${randomBytes(4).toString('hex')}`;
const threads = Number(process.env['DOTRANK_ORT_THREADS'] || availableParallelism());
const DOCS = 100;
const ITER = Number(process.env['BENCH_ITER'] ?? 30);
const WINDOW_TOKENS = 256;
const STRIDE = 128;

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const f = (x: number) => x.toFixed(1);

// Cranfield-long documents cut to ~1,100 tokens: 8 windows of 256 tokens at stride 128
const corpus = readFileSync(join(root, 'datasets', 'cranfield-long', 'corpus.jsonl'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((line) => JSON.parse(line) as { _id: string; text: string });
const queries = readFileSync(join(root, 'datasets', 'cranfield', 'queries.jsonl'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((line) => (JSON.parse(line) as { text: string }).text);

const encoder = await loadEncoder(modelDir, { intraOpThreads: threads });
const windows = (await candidateWindowsFor(modelDir, {
  docScore: 'maxp',
  windowTokens: WINDOW_TOKENS,
  stride: STRIDE,
}))!;
const docs: Candidate[] = corpus.slice(0, DOCS).map((d, i) => {
  const parts = windows.split(d.text);
  const eighth = parts[Math.min(7, parts.length - 1)]!;
  return { id: d._id, text: d.text.slice(0, eighth.end), score: DOCS - i };
});
const windowTexts = docs.flatMap((d) => windows.split(d.text).map((w) => w.text));
const perDoc = windowTexts.length / docs.length;
console.log(
  `model ${modelDir}, ${threads} threads; ${docs.length} long documents, ${windowTexts.length} windows ` +
    `(${perDoc.toFixed(1)} per document, ${WINDOW_TOKENS} tokens, stride ${STRIDE})`,
);

const storeFor = (dtype: 'float32' | 'float16' | 'int8', keyPrefix = `${prefix}:${dtype}`) =>
  new RedisVectorStore({
    url,
    keyPrefix,
    modelId: encoder.modelId,
    revision: encoder.revision,
    dimension: encoder.dimension,
    dtype,
  });

try {
  // 1. cold warm vs bare encoder, on the same window texts (a subset: encoding is the slow part)
  const coldDocs = docs.slice(0, 12);
  const coldTexts = coldDocs.flatMap((d) => windows.split(d.text).map((w) => w.text));
  let t = performance.now();
  for (let b = 0; b < coldTexts.length; b += 32) await encoder.encodePassages(coldTexts.slice(b, b + 32));
  const bareRate = coldTexts.length / ((performance.now() - t) / 1000);
  const coldStore = storeFor('float32', `${prefix}:cold`);
  t = performance.now();
  const warmed = await warmPassages(coldDocs, { encoder, store: coldStore, windows, batchSize: 32 });
  const warmRate = warmed.encoded / ((performance.now() - t) / 1000);
  await coldStore.close();
  console.log(
    `cold warm of long documents: ${f(warmRate)} windows/s vs bare encoder ${f(bareRate)} windows/s ` +
      `= ${(warmRate / bareRate).toFixed(2)}x (goal >= 0.9x)`,
  );

  // 2. warm rerank of 100 long documents vs query encoding alone
  const store = storeFor('float32');
  await warmPassages(docs, { encoder, store, windows, batchSize: 32 });
  const reranker = new InProcessReranker({ encoder, store, windows });
  const rerankMs: number[] = [];
  const encodeMs: number[] = [];
  for (let i = 0; i < ITER + 3; i++) {
    const query = queries[i % queries.length]!;
    let s = performance.now();
    await encoder.encodeQueries([`${query} ${i}`]);
    const e = performance.now() - s;
    s = performance.now();
    const result = await reranker.rerank({ query: `${query} ${i} again`, candidates: docs, fusion: 'tasb' });
    const r = performance.now() - s;
    if (result.cache.misses !== 0) throw new Error(`expected a warm cache, got ${result.cache.misses} misses`);
    if (i >= 3) {
      encodeMs.push(e);
      rerankMs.push(r);
    }
  }
  const overhead = pct(rerankMs, 50) - pct(encodeMs, 50);
  console.log(
    `warm rerank of ${docs.length} long documents x ${perDoc.toFixed(1)} windows (maxp): p50 ${f(pct(rerankMs, 50))} ms ` +
      `vs query encoding p50 ${f(pct(encodeMs, 50))} ms = +${f(overhead)} ms (goal <= +15 ms)`,
  );

  // 3. Redis memory per long document, per cache dtype
  const redis = createRedisConnection(url);
  const memory: string[] = [];
  for (const dtype of ['float32', 'float16', 'int8'] as const) {
    const dtypeStore = dtype === 'float32' ? store : storeFor(dtype);
    if (dtype !== 'float32') await warmPassages(docs.slice(0, 10), { encoder, store: dtypeStore, windows });
    let bytes = 0;
    let keys = 0;
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}:${dtype}:*`, 'COUNT', 1000);
      cursor = next;
      for (const key of found) {
        bytes += Number(await redis.memory('USAGE', key, 'SAMPLES', 0));
        keys++;
      }
    } while (cursor !== '0');
    memory.push(`${dtype} ${f(((bytes / keys) * perDoc) / 1024)} KiB (${Math.round(bytes / keys)} B per window)`);
    if (dtype !== 'float32') await dtypeStore.close();
  }
  console.log(`Redis memory per long document (${perDoc.toFixed(1)} windows): ${memory.join(', ')}`);
  await redis.quit();
  await store.close();
} finally {
  const redis = createRedisConnection(url);
  await deleteKeysWithPrefix(redis, prefix);
  await redis.quit();
  await encoder.close();
}
