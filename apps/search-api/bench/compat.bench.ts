// POST /v1/rerank of 100 cached documents against one query encoding, side by side in one run: the endpoint's cost
// over the model's own (goal: p50 within 10 ms). Vectors are cached in Redis (own key prefix, deleted afterwards);
// the rerank is in-process, over HTTP on localhost. Each round encodes one Cranfield query alone and reranks with
// the same query, alternating which goes first. No query-vector cache (DOTRANK_QUERY_CACHE_SIZE 0).
// Run: npm run bench:compat -w apps/search-api   (env: BENCH_ROUNDS=200 BENCH_MODEL=<dir> REDIS_URL=redis://...)
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { findRepoRoot } from '@dotrank/core';
import { deleteKeysWithPrefix, repoPath } from '@dotrank/core/testing';
import { readCorpus, readQueries } from '@dotrank/datasets';
import { loadEncoder } from '@dotrank/encoder';
import { InProcessReranker, warmPassages } from '@dotrank/rerank-core';
import { RedisVectorStore } from '@dotrank/vector-cache';
import { buildServer } from '../src/index.js';
import { CachedPassageModel, compatKey, lazyPassageModel } from '../src/plugins/compat-passages.js';
import { FakeSource } from '../test/fakes.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const rounds = Number(process.env['BENCH_ROUNDS'] ?? 200);
const warmupRounds = 10;
const DOCUMENTS = 100;

const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
};

async function main(): Promise<void> {
  const root = findRepoRoot(here)!;
  const full = join(root, 'tools', 'fixtures', 'out', 'full-tasb');
  const modelDir =
    process.env['BENCH_MODEL'] ??
    (existsSync(join(full, 'model.onnx')) ? full : join(root, 'tools', 'fixtures', 'tiny-tasb'));
  const redisUrl = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
  const prefix = `dotrank-bench-compat-${process.pid}`;

  const collection = repoPath('datasets/cranfield');
  const documents: string[] = [];
  for await (const p of readCorpus(collection)) {
    if (p.text.trim() !== '') documents.push(p.text);
    if (documents.length === DOCUMENTS) break;
  }
  const queries = (await readQueries(collection)).map((q) => q.text);

  const encoder = await loadEncoder(modelDir);
  const store = new RedisVectorStore({
    url: redisUrl,
    keyPrefix: prefix,
    modelId: encoder.modelId,
    revision: encoder.revision,
    dimension: encoder.dimension,
  });
  const reranker = new InProcessReranker({ encoder, store });
  const passages = lazyPassageModel(() => CachedPassageModel.open(encoder, store));
  const app = await buildServer(
    { source: new FakeSource(), reranker, mode: 'in-process', passages },
    { logger: false, deadlineMs: 60_000 },
  );
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  const cleanup = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    // the same keys /v1/rerank reads: id = text hash
    const warmStart = performance.now();
    await warmPassages(
      documents.map((text) => ({ ...compatKey(text) })),
      { encoder, store },
    );
    const warmSeconds = (performance.now() - warmStart) / 1000;

    const rerank = async (query: string): Promise<number> => {
      const started = performance.now();
      const res = await fetch(`${url}/v1/rerank`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query, documents }),
      });
      const body = (await res.json()) as { results?: unknown[]; meta?: { cache: { misses: number } } };
      const ms = performance.now() - started;
      if (res.status !== 200 || body.results?.length !== DOCUMENTS || body.meta?.cache.misses !== 0)
        throw new Error(`/v1/rerank answered ${res.status}: ${JSON.stringify(body).slice(0, 200)}`);
      return ms;
    };
    const encodeOne = async (query: string): Promise<number> => {
      const started = performance.now();
      await encoder.encodeQueries([query]);
      return performance.now() - started;
    };

    const rerankMs: number[] = [];
    const encodeMs: number[] = [];
    for (let round = 0; round < warmupRounds + rounds; round++) {
      const query = queries[round % queries.length]!;
      const [a, b] = round % 2 === 0 ? [encodeOne, rerank] : [rerank, encodeOne];
      const first = await a(query);
      const second = await b(query);
      if (round < warmupRounds) continue;
      const [encode, whole] = round % 2 === 0 ? [first, second] : [second, first];
      encodeMs.push(encode);
      rerankMs.push(whole);
    }

    const r50 = percentile(rerankMs, 50);
    const e50 = percentile(encodeMs, 50);
    console.log(
      `/v1/rerank of ${DOCUMENTS} cached Cranfield passages vs one query encoding, ${rounds} rounds (+${warmupRounds} warm-up), interleaved`,
    );
    console.log(
      `model: ${modelDir} (${encoder.modelId}, dim ${encoder.dimension}); vectors in Redis ${new URL(redisUrl).host} (prefix ${prefix}), warmed in ${warmSeconds.toFixed(1)} s; ${cpus().length} CPUs`,
    );
    console.log(`${'run'.padEnd(36)} ${'p50 ms'.padStart(8)} ${'p90 ms'.padStart(8)} ${'p99 ms'.padStart(8)}`);
    const row = (name: string, ms: number[]) =>
      console.log(
        `${name.padEnd(36)} ${percentile(ms, 50).toFixed(2).padStart(8)} ${percentile(ms, 90).toFixed(2).padStart(8)} ${percentile(ms, 99).toFixed(2).padStart(8)}`,
      );
    row('query encoding alone (baseline)', encodeMs);
    row(`POST /v1/rerank, ${DOCUMENTS} cached documents`, rerankMs);
    console.log(
      `p50: /v1/rerank ${r50.toFixed(2)} ms = query encoding + ${(r50 - e50).toFixed(2)} ms (${(r50 / e50).toFixed(2)}x; goal: within 10 ms)`,
    );
  } finally {
    await app.close();
    await reranker.close();
    await store.close();
    await encoder.close();
    await deleteKeysWithPrefix(cleanup, prefix);
    cleanup.disconnect();
  }
}

await main();
