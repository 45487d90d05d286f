// Cranfield (shared data) with the tiny fixture model: exact search equals a plain loop; HNSW recall@100 >= 0.95;
// the saved index reloads with the same answers; the vector store is warmed and then read instead of encoding.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Passage } from '@dotrank/core';
import { sharedDirOrSkipReason, tinyModelDir } from '@dotrank/core/testing';
import { readCorpus, readQueries } from '@dotrank/datasets';
import { loadEncoder } from '@dotrank/encoder';
import type { Encoder } from '@dotrank/encoder';
import { MemoryVectorStore } from '@dotrank/vector-cache';
import { createDenseSource } from '../src/index.js';
import type { DenseSource } from '../src/index.js';

const shared = sharedDirOrSkipReason('datasets/cranfield');
const skip = 'reason' in shared;
if (skip) console.warn(`skipping Cranfield dense tests: ${shared.reason}`);

describe.skipIf(skip)('dense search on Cranfield (tiny model)', () => {
  let encoder: Encoder;
  let dir: string;
  const passages: Passage[] = [];
  let queries: string[] = [];
  let exact: DenseSource;
  let ann: DenseSource;
  const store = new MemoryVectorStore({ maxEntries: 10_000 });

  beforeAll(async () => {
    const collection = (shared as { dir: string }).dir;
    encoder = await loadEncoder(tinyModelDir(), { intraOpThreads: 2 });
    dir = await mkdtemp(join(tmpdir(), 'dotrank-dense-cranfield-'));
    for await (const p of readCorpus(collection)) passages.push(p);
    queries = (await readQueries(collection)).slice(0, 50).map((q) => q.text);
    exact = await createDenseSource({ encoder, dir: join(dir, 'exact'), vectorStore: store, batchSize: 64 });
    const report = await exact.index(passages);
    expect(report.indexed + report.skipped).toBe(passages.length);
    ann = await createDenseSource({ encoder, mode: 'ann', dir: join(dir, 'ann'), vectorStore: store, hnsw: { M: 16, efConstruction: 200, efSearch: 200 } });
    await ann.index(passages);
  }, 300_000);

  afterAll(async () => {
    await encoder?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('exact search returns the true top-k by inner product (plain loop over number[] copies)', async () => {
    const n = exact.vectors.size;
    const rows: number[][] = [];
    for (let r = 0; r < n; r++) rows.push(Array.from(exact.vectors.row(r)));
    const encoded = await encoder.encodeQueries(queries.slice(0, 20));
    for (const q of encoded) {
      const qa = Array.from(q);
      const scored = rows.map((v, row) => {
        let s = 0;
        for (let j = 0; j < v.length; j++) s += v[j]! * qa[j]!;
        return { row, s };
      });
      scored.sort((a, b) => b.s - a.s || a.row - b.row);
      const hits = exact.searchVector(q, { k: 100 });
      expect(hits.map((h) => h.row)).toEqual(scored.slice(0, 100).map((x) => x.row));
      hits.forEach((h, i) => expect(h.score).toBeCloseTo(scored[i]!.s, 3));
    }
  });

  it('the HNSW index reaches recall@100 >= 0.95 against exact search', async () => {
    const encoded = await encoder.encodeQueries(queries);
    let found = 0;
    for (const q of encoded) {
      const truth = new Set(exact.searchVector(q, { k: 100 }).map((h) => exact.vectors.docs[h.row]!.id));
      const approx = ann.searchVector(q, { k: 100, mode: 'ann' });
      found += approx.filter((h) => truth.has(ann.vectors.docs[h.row]!.id)).length;
    }
    const recall = found / (100 * encoded.length);
    console.log(`HNSW recall@100 vs exact on Cranfield (${passages.length} passages, ${encoded.length} queries, M=16 efC=200 efS=200): ${recall.toFixed(4)}`);
    expect(recall).toBeGreaterThanOrEqual(0.95);
  });

  it('reloads the saved indexes (vectors and graph) with the same results', async () => {
    const exact2 = await createDenseSource({ encoder, dir: join(dir, 'exact') });
    const ann2 = await createDenseSource({ encoder, mode: 'ann', dir: join(dir, 'ann') });
    expect(await exact2.count()).toBe(await exact.count());
    expect(ann2.vectors.currentGraph).toBeDefined();
    for (const q of queries.slice(0, 5)) {
      expect(await exact2.search(q, { k: 20 })).toEqual(await exact.search(q, { k: 20 }));
      expect(await ann2.search(q, { k: 20 })).toEqual(await ann.search(q, { k: 20 }));
    }
  });

  it('wrote the vectors through the vector store, and the second index read them from it', () => {
    const stats = store.stats();
    expect(stats.entries).toBe(exact.vectors.size);
    // The first index missed everything; the second (ann) hit everything.
    expect(stats.hits).toBe(exact.vectors.size);
  });

  it('refuses a saved index from another model', async () => {
    const other = { ...encoder, modelId: 'someone/else', revision: 'x', dimension: encoder.dimension, encodeQueries: encoder.encodeQueries.bind(encoder), encodePassages: encoder.encodePassages.bind(encoder), close: async () => {} };
    await expect(createDenseSource({ encoder: other, dir: join(dir, 'exact') })).rejects.toThrow(/model: .*someone\/else/);
  });
});
