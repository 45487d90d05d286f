// Bulk ingest throughput through the client against the in-memory Elasticsearch of the tests (no network):
// dotrank's `ElasticsearchSource#index` vs the official `client.helpers.bulk` on the same documents and the same
// fake server, so the ratio is the cost of our batching, validation, retry bookkeeping and report.
// Run: npm run bench -w packages/elasticsearch   (reads datasets/cranfield)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@elastic/elasticsearch';
import { loadConfig } from '@dotrank/core';
import type { Passage } from '@dotrank/core';
import { repoPath } from '@dotrank/core/testing';
import { createElasticsearchSource } from '../src/source.js';
import { documentFor } from '../src/bulk.js';
import { resolveSourceOptions } from '../src/options.js';
import { FakeElasticsearch } from '../test/support/fake-es.js';

const COPIES = 10;
const ROUNDS = 5;

const lines = readFileSync(join(repoPath('datasets/cranfield'), 'corpus.jsonl'), 'utf8')
  .split('\n')
  .filter(Boolean);
const base = lines.map((l) => JSON.parse(l) as { _id: string; title: string; text: string });
const passages: Passage[] = [];
for (let copy = 0; copy < COPIES; copy++) {
  // Cranfield has a few documents with neither title nor text; our ingest skips those (and reports them), so
  // they are left out here to keep both sides on the same documents.
  for (const d of base)
    if ((d.title + d.text).trim() !== '')
      passages.push({ id: `${d._id}-${copy}`, title: d.title, text: d.text, metadata: { copy } });
}
const config = loadConfig({ ELASTICSEARCH_URL: 'http://127.0.0.1:9200', ELASTICSEARCH_INDEX: 'bench' });
const options = resolveSourceOptions({}, 'bench');

async function ours(): Promise<number> {
  const fake = new FakeElasticsearch();
  const source = createElasticsearchSource(config, { clientOptions: { Connection: fake.connection() } });
  const t = performance.now();
  const report = await source.index(passages);
  const ms = performance.now() - t;
  if (report.indexed !== passages.length || fake.indices.get('bench')!.docs.size !== passages.length)
    throw new Error('ours: lost documents');
  await source.close();
  return ms;
}

async function helper(): Promise<number> {
  const fake = new FakeElasticsearch();
  const client = new Client({ node: 'http://127.0.0.1:9200', Connection: fake.connection() });
  const t = performance.now();
  const stats = await client.helpers.bulk<Passage>({
    datasource: passages,
    // Same document layout as ours, so both send the same bytes.
    onDocument: (p) => [{ index: { _index: 'bench', _id: p.id } }, documentFor(p, options)],
    refreshOnCompletion: 'bench',
    flushBytes: options.bulk.maxBytes,
  });
  const ms = performance.now() - t;
  if (stats.successful !== passages.length || fake.indices.get('bench')!.docs.size !== passages.length)
    throw new Error('helper: lost documents');
  await client.close();
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
await ours();
await helper(); // warm-up
const a: number[] = [];
const b: number[] = [];
for (let i = 0; i < ROUNDS; i++) {
  a.push(await ours());
  b.push(await helper());
}
const oursMs = median(a);
const helperMs = median(b);
const rate = (ms: number) => Math.round(passages.length / (ms / 1000));
console.log(
  `bulk ingest of ${passages.length} Cranfield passages (${COPIES} copies), mock transport, median of ${ROUNDS}`,
);
console.log(`  dotrank ElasticsearchSource#index : ${oursMs.toFixed(1)} ms  (${rate(oursMs)} docs/s)`);
console.log(`  baseline client.helpers.bulk      : ${helperMs.toFixed(1)} ms  (${rate(helperMs)} docs/s)`);
console.log(`  ratio dotrank/baseline time       : ${(oursMs / helperMs).toFixed(2)}x`);
