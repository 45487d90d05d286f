// Cranfield (datasets/cranfield) with the tiny fixture model: exact search equals a plain loop; HNSW recall@100 >= 0.95 with
// both backends (built-in JS; hnswlib-node with its default parameters); the saved indexes reload with the same answers
// and no rebuild; a changed vectors file invalidates a saved hnswlib graph; the vector store is warmed and then read.
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Passage } from '@dotrank/core';
import { repoPath, tinyModelDir } from '@dotrank/core/testing';
import { readCorpus, readQueries } from '@dotrank/datasets';
import { loadEncoder } from '@dotrank/encoder';
import type { Encoder } from '@dotrank/encoder';
import { MemoryVectorStore } from '@dotrank/vector-cache';
import { createDenseSource } from '../src/source.js';
import type { DenseSource } from '../src/source.js';
import { hnswlibOrSkipReason } from '../src/testing/hnswlib.js';

const hnswlib = hnswlibOrSkipReason();
const noHnswlib = 'reason' in hnswlib;
if (noHnswlib) console.warn(`skipping the Cranfield hnswlib tests: ${hnswlib.reason}`);

describe('dense search on Cranfield (tiny model)', () => {
  let encoder: Encoder;
  let dir: string;
  const passages: Passage[] = [];
  let queries: string[] = [];
  let exact: DenseSource;
  let ann: DenseSource;
  let lib: DenseSource;
  const notices: string[] = [];
  const store = new MemoryVectorStore({ maxEntries: 10_000 });

  beforeAll(async () => {
    const collection = repoPath('datasets/cranfield');
    encoder = await loadEncoder(tinyModelDir(), { intraOpThreads: 2 });
    dir = await mkdtemp(join(tmpdir(), 'dotrank-dense-cranfield-'));
    for await (const p of readCorpus(collection)) passages.push(p);
    queries = (await readQueries(collection)).slice(0, 50).map((q) => q.text);
    exact = await createDenseSource({ encoder, dir: join(dir, 'exact'), vectorStore: store, batchSize: 64 });
    const report = await exact.index(passages);
    expect(report.indexed + report.skipped).toBe(passages.length);
    ann = await createDenseSource({
      encoder,
      mode: 'ann',
      annBackend: 'js',
      dir: join(dir, 'ann'),
      vectorStore: store,
      hnsw: { M: 16, efConstruction: 200, efSearch: 200 },
    });
    await ann.index(passages);
    if (!noHnswlib) {
      // default parameters (M 16, efConstruction 200, efSearch 128): what a user gets without tuning
      lib = await createDenseSource({
        encoder,
        mode: 'ann',
        annBackend: 'hnswlib',
        dir: join(dir, 'hnswlib'),
        vectorStore: store,
        onNotice: (m) => notices.push(m),
      });
      await lib.index(passages);
    }
  }, 300_000);

  /** recall@k of `source`'s graph against exact search, over the encoded queries. */
  const recallAt = (source: DenseSource, encoded: Float32Array[], k: number) => {
    let found = 0;
    for (const q of encoded) {
      const truth = new Set(exact.searchVector(q, { k }).map((h) => exact.vectors.docs[h.row]!.id));
      found += source
        .searchVector(q, { k, mode: 'ann' })
        .filter((h) => truth.has(source.vectors.docs[h.row]!.id)).length;
    }
    return found / (k * encoded.length);
  };

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

  it('the JS HNSW index reaches recall@100 >= 0.95 against exact search', async () => {
    const encoded = await encoder.encodeQueries(queries);
    let found = 0;
    for (const q of encoded) {
      const truth = new Set(exact.searchVector(q, { k: 100 }).map((h) => exact.vectors.docs[h.row]!.id));
      const approx = ann.searchVector(q, { k: 100, mode: 'ann' });
      found += approx.filter((h) => truth.has(ann.vectors.docs[h.row]!.id)).length;
    }
    const recall = found / (100 * encoded.length);
    console.log(
      `JS HNSW recall@100 vs exact on Cranfield (${passages.length} passages, ${encoded.length} queries, M=16 efC=200 efS=200): ${recall.toFixed(4)}`,
    );
    expect(recall).toBeGreaterThanOrEqual(0.95);
  });

  it.skipIf(noHnswlib)(
    'the hnswlib index (default parameters) reaches recall@100 >= 0.95 against exact search',
    async () => {
      const encoded = await encoder.encodeQueries(queries);
      expect(lib.vectors.currentGraph?.backend).toBe('hnswlib');
      const recall100 = recallAt(lib, encoded, 100);
      const recall10 = recallAt(lib, encoded, 10);
      console.log(
        `hnswlib recall vs exact on Cranfield (${passages.length} passages, ${encoded.length} queries, tiny model ${encoder.dimension}-d, M=16 efC=200 efS=128): ` +
          `recall@100 ${recall100.toFixed(4)}, recall@10 ${recall10.toFixed(4)}`,
      );
      expect(recall100).toBeGreaterThanOrEqual(0.95);
      // its scores are the exact inner products of the rows it returns
      const exactScores = new Map(
        exact.searchVector(encoded[0]!, { k: passages.length }).map((h) => [exact.vectors.docs[h.row]!.id, h.score]),
      );
      for (const h of lib.searchVector(encoded[0]!, { k: 100, mode: 'ann' }))
        expect(h.score).toBe(exactScores.get(lib.vectors.docs[h.row]!.id));
      expect(notices).toEqual([]);
    },
  );

  it.skipIf(noHnswlib)('reloads the saved hnswlib graph without rebuilding it, with identical results', async () => {
    const reloadNotices: string[] = [];
    const lib2 = await createDenseSource({
      encoder,
      mode: 'ann',
      annBackend: 'hnswlib',
      dir: join(dir, 'hnswlib'),
      onNotice: (m) => reloadNotices.push(m),
    });
    const graph = lib2.vectors.currentGraph;
    expect(graph?.backend).toBe('hnswlib'); // loaded from disk, before any search could build one
    for (const q of await encoder.encodeQueries(queries))
      expect(lib2.searchVector(q, { k: 100 })).toEqual(lib.searchVector(q, { k: 100 }));
    for (const q of queries.slice(0, 5))
      expect(await lib2.search(q, { k: 20 })).toEqual(await lib.search(q, { k: 20 }));
    expect(lib2.vectors.currentGraph).toBe(graph); // still the loaded graph
    expect(reloadNotices).toEqual([]);
  });

  it.skipIf(noHnswlib)(
    'never uses a saved hnswlib graph over changed vectors: it is reported and rebuilt',
    async () => {
      const changed = join(dir, 'hnswlib-changed');
      await cp(join(dir, 'hnswlib'), changed, { recursive: true });
      // Rewrite vectors.f32 behind dense.json (same size and count): row 0 becomes another passage's vector.
      const raw = await readFile(join(changed, 'vectors.f32'));
      const rowBytes = encoder.dimension * 4;
      raw.copy(raw, 0, 7 * rowBytes, 8 * rowBytes);
      await writeFile(join(changed, 'vectors.f32'), raw);
      const changedNotices: string[] = [];
      const lib3 = await createDenseSource({
        encoder,
        mode: 'ann',
        annBackend: 'hnswlib',
        dir: changed,
        onNotice: (m) => changedNotices.push(m),
      });
      expect(changedNotices).toHaveLength(1);
      expect(changedNotices[0]).toMatch(
        /saved hnswlib HNSW graph in .* was built over other vectors .*rebuilt when needed/,
      );
      expect(lib3.vectors.currentGraph).toBeUndefined();
      expect(await lib3.ensureAnnIndex()).toEqual({ built: true });
      expect(lib3.vectors.currentGraph?.backend).toBe('hnswlib');
      // the rebuilt graph is over the changed vectors: row 0 scores as row 7 does
      const [q] = await encoder.encodeQueries([queries[0]!]);
      const hits = lib3.searchVector(q!, { k: 1400, mode: 'ann', efSearch: 1400 });
      const score = (row: number) => hits.find((h) => h.row === row)?.score;
      expect(score(0)).toBeDefined();
      expect(score(0)).toBe(score(7));
      // and the next open trusts the graph saved with the new fingerprint
      const lib4 = await createDenseSource({
        encoder,
        mode: 'ann',
        annBackend: 'hnswlib',
        dir: changed,
        onNotice: (m) => changedNotices.push(m),
      });
      expect(lib4.vectors.currentGraph?.backend).toBe('hnswlib');
      expect(changedNotices).toHaveLength(1);
    },
  );

  it('reloads the saved indexes (vectors and graph) with the same results', async () => {
    const exact2 = await createDenseSource({ encoder, dir: join(dir, 'exact') });
    const ann2 = await createDenseSource({ encoder, mode: 'ann', annBackend: 'js', dir: join(dir, 'ann') });
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
    // The first index missed everything; the later ones (JS ann, hnswlib) hit everything.
    expect(stats.hits).toBe(exact.vectors.size * (noHnswlib ? 1 : 2));
  });

  it('refuses a saved index from another model', async () => {
    const other = {
      ...encoder,
      modelId: 'someone/else',
      revision: 'x',
      dimension: encoder.dimension,
      encodeQueries: encoder.encodeQueries.bind(encoder),
      encodePassages: encoder.encodePassages.bind(encoder),
      close: async () => {},
    };
    await expect(createDenseSource({ encoder: other, dir: join(dir, 'exact') })).rejects.toThrow(
      /model: .*someone\/else/,
    );
  });
});
