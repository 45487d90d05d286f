// Load test of GET /search: embedded BM25 over Cranfield, warm passage vectors, in-process TAS-B rerank,
// against the same server answering fusion=bm25 (no rerank), in one invocation; printed side by side as ratios.
// Run: npm run bench -w apps/search-api   (env: BENCH_CONNECTIONS=16 BENCH_SECONDS=10 BENCH_MODEL=<dir>)
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findRepoRoot } from '@dotrank/core';
import { repoPath } from '@dotrank/core/testing';
import { createEmbeddedSource } from '@dotrank/bm25';
import { readCorpus, readQueries } from '@dotrank/datasets';
import { loadEncoder } from '@dotrank/encoder';
import { InProcessReranker, warmPassages } from '@dotrank/rerank-core';
import { MemoryVectorStore } from '@dotrank/vector-cache';
import type { Passage } from '@dotrank/core';
import { buildServer } from '../src/index.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const connections = Number(process.env['BENCH_CONNECTIONS'] ?? 16);
const seconds = Number(process.env['BENCH_SECONDS'] ?? 10);

interface LoadResult {
  requests: number;
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}

function load(url: string, fusion: string, queriesFile: string): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [join(here, 'load-client.mjs'), url, fusion, String(connections), String(seconds), queriesFile],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.once('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out) as LoadResult) : reject(new Error(`load client exited ${code}`)),
    );
  });
}

async function main(): Promise<void> {
  const collection = repoPath('datasets/cranfield');
  const root = findRepoRoot(here)!;
  const full = join(root, 'tools', 'fixtures', 'out', 'full-tasb');
  const modelDir =
    process.env['BENCH_MODEL'] ??
    (existsSync(join(full, 'model.onnx')) ? full : join(root, 'tools', 'fixtures', 'tiny-tasb'));

  const passages: Passage[] = [];
  for await (const p of readCorpus(collection)) passages.push(p);
  const queries = (await readQueries(collection)).map((q) => q.text);
  const source = await createEmbeddedSource();
  await source.index(passages);

  const encoder = await loadEncoder(modelDir);
  const store = new MemoryVectorStore({ dimension: encoder.dimension });
  const warmStart = performance.now();
  // the texts BM25 hands out as candidates are the passages' `text`, the key the cache uses
  const toWarm = passages;
  let lastReport = 0;
  await warmPassages(toWarm, {
    encoder,
    store,
    total: toWarm.length,
    onProgress: ({ done }) => {
      if (performance.now() - lastReport > 5000) {
        lastReport = performance.now();
        process.stderr.write(`warming vectors: ${done}/${toWarm.length}\n`);
      }
    },
  });
  const warmSeconds = (performance.now() - warmStart) / 1000;
  const reranker = new InProcessReranker({ encoder, store });
  // a generous deadline: the figure is the cost of reranking, not of degrading
  const app = await buildServer({ source, reranker, mode: 'in-process' }, { logger: false, deadlineMs: 60_000 });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });

  const dir = await mkdtemp(join(tmpdir(), 'dotrank-bench-'));
  const queriesFile = join(dir, 'queries.json');
  await writeFile(queriesFile, JSON.stringify(queries));
  try {
    console.log(
      `search-api load test: ${passages.length} Cranfield passages, ${queries.length} queries cycled, k=10, candidates=100`,
    );
    console.log(
      `model: ${modelDir} (${encoder.modelId}, dim ${encoder.dimension}); vectors warmed in ${warmSeconds.toFixed(1)} s`,
    );
    console.log(
      `autocannon in a second process, ${connections} connections, ${seconds} s per run, ${cpus().length} CPUs shared by server and client`,
    );
    const bm25 = await load(url, 'bm25', queriesFile);
    const tasb = await load(url, 'tasb', queriesFile);
    const stats = (await (await fetch(`${url}/api/stats`)).json()) as {
      cacheHitRatio: number | null;
      latencyMs: Record<string, { p50: number | null; p99: number | null }>;
    };
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const degraded = [...metrics.matchAll(/^dotrank_degraded_responses_total\{[^}]*\} (\d+)/gm)].reduce(
      (a, m) => a + Number(m[1]),
      0,
    );
    const row = (name: string, r: LoadResult) =>
      `${name.padEnd(24)} ${r.rps.toFixed(1).padStart(9)} ${r.p50.toFixed(1).padStart(8)} ${r.p99.toFixed(1).padStart(8)} ${String(r.requests).padStart(9)} ${String(r.non2xx + r.errors + r.timeouts).padStart(7)}`;
    console.log(
      `${'run'.padEnd(24)} ${'req/s'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'requests'.padStart(9)} ${'failed'.padStart(7)}`,
    );
    console.log(row('fusion=bm25 (baseline)', bm25));
    console.log(row('fusion=tasb (rerank)', tasb));
    console.log(
      `ratio tasb/bm25: throughput ${(tasb.rps / bm25.rps).toFixed(3)}x, p50 ${(tasb.p50 / bm25.p50).toFixed(2)}x, p99 ${(tasb.p99 / bm25.p99).toFixed(2)}x`,
    );
    console.log(
      `degraded responses: ${degraded}; vector cache hit ratio over the last minute: ${stats.cacheHitRatio ?? 'n/a'}`,
    );
    const stages = Object.entries(stats.latencyMs).map(
      ([stage, v]) => `${stage} ${v.p50?.toFixed(1)}/${v.p99?.toFixed(1)}`,
    );
    console.log(`server-side stage latency over the last minute, p50/p99 ms (both runs): ${stages.join(', ')}`);
  } finally {
    await app.close();
    await reranker.close();
    await encoder.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
