// Pages 2..5 of a reranked window through the Elasticsearch proxy against a plain proxied search of the same size,
// side by side in one run (goal: p50 within 2 ms). The cluster is the stand-in Elasticsearch over the Cranfield
// corpus (text in a nested field, `body.content`), on localhost; the rerank is in-process. Page 1 of each query
// computes its window (100 hits reranked) and keeps it; pages 2..5 are then cut from the kept window. The baseline is
// the same match sent as a filter (no query text, so the proxy passes it through and the cluster answers it).
// Each round alternates which of the two goes first.
// Run: npm run bench:proxy -w apps/search-api   (env: BENCH_QUERIES=20 BENCH_MODEL=<dir>, default the tiny fixture model)
import http from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findRepoRoot } from '@dotrank/core';
import { repoPath } from '@dotrank/core/testing';
import { readCorpus, readQueries } from '@dotrank/datasets';
import { MemoryWindowStore } from '@dotrank/elasticsearch';
import { startStandInElasticsearch } from '@dotrank/elasticsearch/testing';
import { loadEncoder } from '@dotrank/encoder';
import { InProcessReranker } from '@dotrank/rerank-core';
import { MemoryVectorStore } from '@dotrank/vector-cache';
import { buildServer } from '../src/index.js';
import { FakeSource } from '../test/fakes.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const queriesToRun = Number(process.env['BENCH_QUERIES'] ?? 20);
const PAGE = 10;

const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
};

async function main(): Promise<void> {
  const root = findRepoRoot(here)!;
  // pages 2..5 run no model, so the tiny fixture model is the default (page 1's figure is then not TAS-B's)
  const modelDir = process.env['BENCH_MODEL'] ?? join(root, 'tools', 'fixtures', 'tiny-tasb');
  const collection = repoPath('datasets/cranfield');
  const documents = [];
  for await (const p of readCorpus(collection)) documents.push({ _id: p.id, _source: { body: { content: p.text } } });
  const queries = (await readQueries(collection)).map((q) => q.text).slice(0, queriesToRun);

  const es = await startStandInElasticsearch({ indices: { cranfield: { documents } } });
  console.error(`stand-in ready (${documents.length} documents); loading ${modelDir}`);
  const encoder = await loadEncoder(modelDir);
  const reranker = new InProcessReranker({ encoder, store: new MemoryVectorStore({ dimension: encoder.dimension }) });
  const app = await buildServer(
    {
      source: new FakeSource(),
      reranker,
      mode: 'in-process',
      proxy: {
        url: es.url,
        indices: ['cranfield'],
        passage: { index: 'cranfield', textFields: ['body.content'] },
        windowStore: new MemoryWindowStore(),
        modelRevision: encoder.revision,
      },
    },
    { logger: false, deadlineMs: 60_000 },
  );
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const search = (body: object) =>
    new Promise<number>((resolve, reject) => {
      const payload = JSON.stringify(body);
      const started = performance.now();
      const req = http.request(
        `${url}/cranfield/_search`,
        {
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        },
        (res) => {
          res.resume();
          res.on('end', () =>
            res.statusCode === 200 ? resolve(performance.now() - started) : reject(new Error(`HTTP ${res.statusCode}`)),
          );
        },
      );
      req.on('error', reject);
      req.end(payload);
    });

  const firstPage: number[] = [];
  const paged: number[] = [];
  const plain: number[] = [];
  const differences: number[] = [];
  let round = 0;
  for (const text of queries) {
    const query = { match: { 'body.content': text } };
    firstPage.push(await search({ query, size: PAGE }));
    if (round === 0) console.error(`first window: ${firstPage[0]!.toFixed(0)} ms`);
    for (let page = 2; page <= 5; page++) {
      const from = (page - 1) * PAGE;
      const reranked = () => search({ query, from, size: PAGE });
      const passed = () => search({ query: { bool: { filter: [query] } }, from, size: PAGE });
      const [a, b] = round++ % 2 === 0 ? [await reranked(), await passed()] : [0, 0];
      const [c, d] = a === 0 ? [await passed(), await reranked()] : [b, a];
      paged.push(a === 0 ? d : a);
      plain.push(a === 0 ? c : b);
      differences.push(paged.at(-1)! - plain.at(-1)!);
    }
  }
  const p50 = percentile(paged, 50);
  const base = percentile(plain, 50);
  console.log(`proxy paging over the stand-in Elasticsearch (Cranfield, ${documents.length} documents, body.content)`);
  console.log(`model ${modelDir}; ${queries.length} queries, pages 2..5 of ${PAGE} each, window 100`);
  console.log(`  page 1 (window fetched and reranked)  p50 ${percentile(firstPage, 50).toFixed(2)} ms`);
  console.log(
    `  pages 2..5 of the kept window         p50 ${p50.toFixed(2)} ms  p90 ${percentile(paged, 90).toFixed(2)} ms`,
  );
  console.log(
    `  plain proxied search, same size       p50 ${base.toFixed(2)} ms  p90 ${percentile(plain, 90).toFixed(2)} ms`,
  );
  console.log(
    `  paged - plain: p50 of paired differences ${percentile(differences, 50).toFixed(2)} ms; ratio of p50s ${(p50 / base).toFixed(2)}x (goal: within 2 ms)`,
  );
  agent.destroy();
  await app.close();
  await reranker.close();
  await encoder.close();
  await es.close();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
