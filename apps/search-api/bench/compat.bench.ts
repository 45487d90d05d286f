// POST /v1/rerank of 100 cached documents against one query encoding, side by side in one run: the endpoint's cost
// over the model's own (goal: p50 within 10 ms). Vectors are cached in Redis (own key prefix, deleted afterwards);
// the rerank is in-process, over HTTP on localhost. Each round encodes one Cranfield query alone and reranks with
// the same query, alternating which goes first. No query-vector cache (DOTRANK_QUERY_CACHE_SIZE 0).
// Run: npm run bench:compat -w apps/search-api   (env: BENCH_ROUNDS=200 BENCH_MODEL=<dir> REDIS_URL=redis://...)
import { existsSync } from 'node:fs';
import http from 'node:http';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
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
  // BENCH_MODEL is read from the repository root (npm runs this inside apps/search-api)
  const given = process.env['BENCH_MODEL'];
  const modelDir = given
    ? resolve(root, given)
    : existsSync(join(full, 'model.onnx'))
      ? full
      : join(root, 'tools', 'fixtures', 'tiny-tasb');
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
  // server-side time of each call: from its request line to its serialised answer
  const arrived = new WeakMap<object, number>();
  const serverMs: number[] = [];
  app.addHook('onRequest', async (request) => {
    arrived.set(request, performance.now());
  });
  app.addHook('onSend', async (request) => {
    serverMs.push(performance.now() - (arrived.get(request) ?? performance.now()));
  });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  const cleanup = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  // a keep-alive node:http client, as Elasticsearch's own HTTP client keeps its connections
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const post = (target: string, payload: string) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request(
        target,
        {
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  try {
    // the same keys /v1/rerank reads: id = text hash
    const warmStart = performance.now();
    await warmPassages(
      documents.map((text) => ({ ...compatKey(text) })),
      { encoder, store },
    );
    const warmSeconds = (performance.now() - warmStart) / 1000;

    // the rerank's own query encoding (meta.timings.encodeQueryMs): what the endpoint adds around it, within one call
    const outside: number[] = [];
    const stages: Record<string, number>[] = [];
    const rerank = async (query: string): Promise<number> => {
      const started = performance.now();
      const res = await post(`${url}/v1/rerank`, JSON.stringify({ query, documents }));
      const body = JSON.parse(res.text) as {
        results?: unknown[];
        meta?: { cache: { misses: number }; timings: Record<string, number> & { encodeQueryMs: number } };
      };
      const ms = performance.now() - started;
      if (res.status !== 200 || body.results?.length !== DOCUMENTS || body.meta?.cache.misses !== 0)
        throw new Error(`/v1/rerank answered ${res.status}: ${JSON.stringify(body).slice(0, 200)}`);
      outside.push(ms - body.meta.timings.encodeQueryMs);
      stages.push(body.meta.timings);
      return ms;
    };
    const encodeOne = async (query: string): Promise<number> => {
      const started = performance.now();
      await encoder.encodeQueries([query]);
      return performance.now() - started;
    };

    const rerankMs: number[] = [];
    const encodeMs: number[] = [];
    const paired: number[] = [];
    for (let round = 0; round < warmupRounds + rounds; round++) {
      const query = queries[round % queries.length]!;
      const [a, b] = round % 2 === 0 ? [encodeOne, rerank] : [rerank, encodeOne];
      const first = await a(query);
      const second = await b(query);
      if (round < warmupRounds) {
        outside.pop();
        serverMs.pop();
        stages.pop();
        continue;
      }
      const [encode, whole] = round % 2 === 0 ? [first, second] : [second, first];
      encodeMs.push(encode);
      rerankMs.push(whole);
      paired.push(whole - encode);
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
    row('  of which server-side', serverMs);
    console.log(
      `p50: /v1/rerank ${r50.toFixed(2)} ms = query encoding + ${(r50 - e50).toFixed(2)} ms (${(r50 / e50).toFixed(2)}x; goal: within 10 ms)`,
    );
    const stage = (name: string) =>
      percentile(
        stages.map((t) => t[name] ?? 0),
        50,
      ).toFixed(2);
    console.log(
      `in-call p50 ms: rerank step ${stage('rerankMs')} (query encoding ${stage('encodeQueryMs')}, cache read ${stage('cacheReadMs')} alongside it, scoring ${stage('scoreMs')})`,
    );
    // under load both figures swing together: the per-round difference and the in-call figure show the endpoint's own cost
    console.log(
      `median per-round difference (rerank - encoding, same query, adjacent): ${percentile(paired, 50).toFixed(2)} ms; within one call, time around its own query encoding: p50 ${percentile(outside, 50).toFixed(2)} ms`,
    );
  } finally {
    agent.destroy();
    await app.close();
    await reranker.close();
    await store.close();
    await encoder.close();
    await deleteKeysWithPrefix(cleanup, prefix);
    cleanup.disconnect();
  }
}

await main();
