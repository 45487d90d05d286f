// The hnswlib backend (optional native package hnswlib-node) and the choice between it and the built-in JS HNSW:
// exact scores, persistence, the fallback when the module does not load, parameter errors naming the field.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, ValidationError } from '@dotrank/core';
import { CONTRACT_PASSAGES, seededRandom, tinyModelDir } from '@dotrank/core/testing';
import { loadEncoder } from '@dotrank/encoder';
import type { Encoder } from '@dotrank/encoder';
import { createDenseSource } from '../src/source.js';
import { exactSearch } from '../src/exact.js';
import { HnswIndex } from '../src/hnsw.js';
import { HnswlibIndex } from '../src/hnswlib.js';
import { resolveAnnBackend } from '../src/ann.js';
import { VectorMatrix } from '../src/matrix.js';
import type { DenseManifest } from '../src/matrix.js';
import type { HnswlibModule } from '../src/ann.js';
import { hnswlibOrSkipReason } from '../src/testing/hnswlib.js';

const hnswlib = hnswlibOrSkipReason();
const noHnswlib = 'reason' in hnswlib;
if (noHnswlib) console.warn(`skipping the hnswlib-node tests: ${hnswlib.reason}`);
const nativeModule = () => (hnswlib as { module: HnswlibModule }).module;

const missing = () => {
  throw new Error("Cannot find module 'hnswlib-node'");
};

describe('resolveAnnBackend', () => {
  it('auto falls back to the JS HNSW with the load error as the reason', () => {
    const resolved = resolveAnnBackend('auto', missing);
    expect(resolved.backend).toBe('js');
    expect(resolved.reason).toMatch(
      /hnswlib-node did not load \(Cannot find module 'hnswlib-node'\); using the built-in JS HNSW/,
    );
  });

  it('an explicit hnswlib choice fails naming the option and the way out', () => {
    expect(() => resolveAnnBackend('hnswlib', missing)).toThrow(ConfigError);
    expect(() => resolveAnnBackend('hnswlib', missing)).toThrow(
      /^annBackend: "hnswlib" needs the optional package hnswlib-node.*Cannot find module.*DOTRANK_ANN_BACKEND=js/,
    );
    // a module without the class (a broken build, another package) counts as not loaded
    expect(() => resolveAnnBackend('hnswlib', () => ({}) as HnswlibModule)).toThrow(/no HierarchicalNSW class/);
  });

  it('js needs no module; an unknown backend is named', () => {
    expect(resolveAnnBackend('js', missing)).toEqual({ backend: 'js' });
    expect(() => resolveAnnBackend('faiss' as never)).toThrow(/annBackend: must be one of auto, hnswlib, js/);
  });

  it.skipIf(noHnswlib)('auto picks hnswlib when it loads', () => {
    expect(resolveAnnBackend('auto').backend).toBe('hnswlib');
    expect(resolveAnnBackend().backend).toBe('hnswlib');
  });
});

describe('HNSW parameters', () => {
  const matrix = new Float32Array(8 * 4);
  const cases: Array<[object, RegExp]> = [
    [{ M: 1 }, /^hnsw\.M: must be an integer from 2 to 127 \(got 1\)/],
    [{ M: 200 }, /^hnsw\.M: /],
    [{ efConstruction: 0 }, /^hnsw\.efConstruction: /],
    [{ efSearch: 1.5 }, /^hnsw\.efSearch: .*got 1\.5/],
    [{ seed: -1 }, /^hnsw\.seed: /],
  ];
  it('are refused naming the field, by both backends', () => {
    for (const [params, message] of cases) {
      expect(() => new HnswIndex(4, matrix, params)).toThrow(ValidationError);
      expect(() => new HnswIndex(4, matrix, params)).toThrow(message);
      if (!noHnswlib) expect(() => new HnswlibIndex(nativeModule(), 4, matrix, params)).toThrow(message);
    }
  });
});

describe('dense source backend choice (tiny model)', () => {
  let encoder: Encoder;
  let root: string;
  beforeAll(async () => {
    encoder = await loadEncoder(tinyModelDir(), { intraOpThreads: 1 });
    root = await mkdtemp(join(tmpdir(), 'dotrank-dense-hnswlib-'));
  });
  afterAll(async () => {
    await encoder?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('falls back to the JS HNSW when hnswlib-node cannot be loaded, and says why', async () => {
    const notices: string[] = [];
    const source = await createDenseSource({
      encoder,
      mode: 'ann',
      loadHnswlib: missing,
      onNotice: (m) => notices.push(m),
    });
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(
      /hnswlib-node did not load \(Cannot find module 'hnswlib-node'\); using the built-in JS HNSW/,
    );
    expect(source.annStatus).toEqual({ backend: 'js', reason: notices[0] });
    await source.index(CONTRACT_PASSAGES);
    expect(source.vectors.currentGraph?.backend).toBe('js');
    expect(await source.search('boundary layer', { k: 3 })).toHaveLength(3);
    expect(notices).toHaveLength(1); // told once
  });

  it('asked for hnswlib explicitly, refuses to start without it', async () => {
    await expect(
      createDenseSource({ encoder, mode: 'ann', annBackend: 'hnswlib', loadHnswlib: missing }),
    ).rejects.toThrow(/^annBackend: "hnswlib" needs the optional package hnswlib-node/);
  });

  it('refuses bad options naming the field', async () => {
    await expect(createDenseSource({ encoder, mode: 'ann', hnsw: { efSearch: 0 } })).rejects.toThrow(
      /^hnsw\.efSearch: /,
    );
    await expect(createDenseSource({ encoder, mode: 'ann', annBackend: 'faiss' as never })).rejects.toThrow(
      /^annBackend: /,
    );
    await expect(createDenseSource({ encoder, hnsw: { M: 0 } })).rejects.toThrow(/^hnsw\.M: /);
  });

  it.skipIf(noHnswlib)(
    'defaults to hnswlib, keeps it across an exact-mode save, and drops it when the vectors change',
    async () => {
      const dir = join(root, 'auto');
      const notices: string[] = [];
      const ann = await createDenseSource({ encoder, mode: 'ann', dir, onNotice: (m) => notices.push(m) });
      expect(ann.annStatus).toEqual({ backend: 'hnswlib' });
      await ann.index(CONTRACT_PASSAGES);
      expect(ann.vectors.currentGraph?.backend).toBe('hnswlib');
      const manifest = async () => JSON.parse(await readFile(join(dir, 'dense.json'), 'utf8')) as DenseManifest;
      expect((await manifest()).hnswlib).toMatchObject({
        file: 'hnswlib-ip.bin',
        M: 16,
        efConstruction: 200,
        efSearch: 128,
        seed: 42,
        count: 5,
      });

      // An exact-mode source does not load the graph, and saving unchanged vectors keeps it listed.
      const exact = await createDenseSource({ encoder, dir });
      await exact.flush();
      expect((await manifest()).hnswlib?.count).toBe(5);
      // New vectors saved in exact mode: the old graph is no longer listed (and its file is gone).
      await exact.index([{ id: 'p6', text: 'Heat transfer in hypersonic flow.' }]);
      expect((await manifest()).hnswlib).toBeUndefined();
      await expect(readFile(join(dir, 'hnswlib-ip.bin'))).rejects.toThrow(/ENOENT/);

      // Reopened in ann mode, openFirstStage-style: the graph is built once and saved.
      const again = await createDenseSource({ encoder, mode: 'ann', dir, onNotice: (m) => notices.push(m) });
      expect(again.vectors.currentGraph).toBeUndefined();
      expect(await again.ensureAnnIndex()).toEqual({ built: true });
      expect(await again.ensureAnnIndex()).toEqual({ built: false });
      expect((await manifest()).hnswlib?.count).toBe(6);
      expect(notices).toEqual([]);
    },
  );
});

describe.skipIf(noHnswlib)('HnswlibIndex on seeded random vectors', () => {
  const dim = 24;
  const n = 600;
  const rand = seededRandom(11);
  const matrix = new Float32Array(n * dim).map(() => rand() - 0.5);
  const queries = Array.from({ length: 10 }, () => new Float32Array(dim).map(() => rand() - 0.5));

  it('returns exact inner products (exactSearch arithmetic), best first, and high recall', () => {
    const index = new HnswlibIndex(nativeModule(), dim, matrix, { M: 16, efConstruction: 200, efSearch: 200 }, 16); // grows past 16
    for (let row = 0; row < n; row++) index.add(row);
    expect(index.size).toBe(n);
    let found = 0;
    for (const q of queries) {
      const truth = exactSearch(matrix, dim, n, q, 20);
      const hits = index.search(q, 20);
      expect(hits).toHaveLength(20);
      const exactScore = new Map(exactSearch(matrix, dim, n, q, n).map((h) => [h.row, h.score]));
      for (const h of hits) expect(h.score).toBe(exactScore.get(h.row));
      for (let i = 1; i < hits.length; i++) expect(hits[i - 1]!.score).toBeGreaterThanOrEqual(hits[i]!.score);
      const t = new Set(truth.map((h) => h.row));
      found += hits.filter((h) => t.has(h.row)).length;
    }
    expect(found / (20 * queries.length)).toBeGreaterThanOrEqual(0.95);
    expect(index.search(queries[0]!, n + 50)).toHaveLength(n); // k beyond the size: every row, no hnswlib error
    expect(() => index.search(new Float32Array(3), 5)).toThrow(/^query: /);
    expect(() => index.add(n + 1)).toThrow(/^row: /);
  });

  it('an overwritten row is updated in place and found at its new place', () => {
    const m = new VectorMatrix(dim, 8);
    for (let r = 0; r < n; r++) m.put({ id: `d${r}`, text: '' }, matrix.subarray(r * dim, (r + 1) * dim));
    const ann = resolveAnnBackend('hnswlib');
    const graph = m.buildGraph({ efSearch: 200 }, { ann });
    const q = queries[0]!;
    const target = exactSearch(m.matrix, dim, n, q, n).at(-1)!.row; // the worst row for q...
    m.put(
      { id: `d${target}`, text: '' },
      q.map((x) => x * 10),
    ); // ...becomes by far the best
    expect(m.currentGraph).toBeUndefined(); // dirty until brought up to date
    expect(m.buildGraph({}, { ann })).toBe(graph); // same graph object: updated, not rebuilt
    expect(graph.search(q, 1)[0]!.row).toBe(target);
  });
});
