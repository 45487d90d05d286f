// The dense first stage over passage windows: a long document has one row per window and scores by its best window
// (max inner product), checked against brute force over the windows' vectors; ANN recall against exact; persistence;
// re-indexing with fewer windows; filters; one-window documents unchanged; window vectors shared through the cache.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, matchesFilter } from '@dotrank/core';
import { CONTRACT_PASSAGES, tinyModelDir } from '@dotrank/core/testing';
import { loadEncoder, readManifest, splitIntoWindows, TextTokenizer } from '@dotrank/encoder';
import type { CandidateSource, DenseEncoder, Passage, Scalar } from '@dotrank/core';
import { MemoryVectorStore } from '@dotrank/vector-cache';
import { denseDirFor, openFirstStage } from '../src/first-stage.js';
import { createDenseSource } from '../src/source.js';
import type { DenseSource, NamedPassageSplitter } from '../src/source.js';
import { hnswlibOrSkipReason } from '../src/testing/hnswlib.js';

const hnswlib = hnswlibOrSkipReason();

const DIM = 16;

/** A vector from the text's SHA-256 (deterministic, distinct per text), and a log of the texts it encoded. */
function vectorOf(text: string): Float32Array {
  const v = new Float32Array(DIM);
  let block = createHash('sha256').update(text).digest();
  for (let i = 0; i < DIM; i++) {
    if (i % 16 === 0 && i > 0) block = createHash('sha256').update(block).digest();
    v[i] = (block[(i * 2) % 32]! * 256 + block[(i * 2 + 1) % 32]!) / 65536 - 0.5;
  }
  return v;
}

class HashEncoder implements DenseEncoder {
  readonly modelId = 'hash-test';
  readonly revision = 'r1';
  readonly dimension = DIM;
  readonly similarity = 'dot' as const;
  readonly encoded: string[] = [];
  async encodeQueries(texts: readonly string[]): Promise<Float32Array[]> {
    return texts.map((t) => vectorOf(`query:${t}`));
  }
  async encodePassages(texts: readonly string[]): Promise<Float32Array[]> {
    this.encoded.push(...texts);
    return texts.map(vectorOf);
  }
  async close(): Promise<void> {}
}

/** Windows of 3 words with a stride of 2 (overlapping), as offsets into the text. */
function splitWords(text: string): { text: string; start: number; end: number }[] {
  const words = [...text.matchAll(/\S+/g)].map((m) => ({ start: m.index, end: m.index + m[0].length }));
  const out: { text: string; start: number; end: number }[] = [];
  for (let i = 0; ; i += 2) {
    const last = words[Math.min(i + 2, words.length - 1)]!;
    out.push({ text: text.slice(words[i]!.start, last.end), start: words[i]!.start, end: last.end });
    if (i + 3 >= words.length) break;
  }
  return out.length === 1 ? [{ text, start: 0, end: text.length }] : out;
}
const WINDOWS: NamedPassageSplitter = { split: splitWords, name: '3-2' };

function seeded(seed: number): () => number {
  return () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 4294967296;
  };
}

const VOCAB = 'alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma'.split(
  ' ',
);
function corpus(n: number, maxWords: number, seed: number): Passage[] {
  const rand = seeded(seed);
  return Array.from({ length: n }, (_, i) => {
    const words = 1 + Math.floor(rand() * maxWords);
    const text = Array.from({ length: words }, () => VOCAB[Math.floor(rand() * VOCAB.length)]).join(' ');
    return { id: `d${i}`, text: `${i} ${text}`, metadata: { group: i % 3 } };
  });
}

const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);

/** Brute force: every document scored by the max over its windows' vectors, best first. */
function bruteForce(
  passages: Passage[],
  query: Float32Array,
  filter?: Record<string, Scalar>,
): { id: string; score: number }[] {
  return passages
    .filter((p) => !filter || matchesFilter(p.metadata, filter))
    .map((p) => ({ id: p.id, score: Math.max(...splitWords(p.text).map((w) => dot(query, vectorOf(w.text)))) }))
    .sort((a, b) => b.score - a.score);
}

describe('dense first stage over passage windows', () => {
  let root: string;
  const passages = corpus(120, 14, 3);
  const queries = ['alpha beta', 'theta', 'rho sigma pi', 'kappa', 'nu xi', 'omicron eta zeta'];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dotrank-dense-windows-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  async function build(options: { dir?: string; windows?: NamedPassageSplitter; docs?: Passage[] } = {}) {
    const encoder = new HashEncoder();
    const source = await createDenseSource({
      encoder,
      ...(options.dir ? { dir: options.dir } : {}),
      ...('windows' in options ? (options.windows ? { windows: options.windows } : {}) : { windows: WINDOWS }),
      onNotice: () => {},
    });
    await source.index(options.docs ?? passages);
    return { source, encoder };
  }

  it('exact: the top-k documents by best window equal brute force over the windows, with their full texts', async () => {
    const { source, encoder } = await build();
    expect(passages.some((p) => splitWords(p.text).length >= 4)).toBe(true);
    expect(await source.count()).toBe(passages.length);
    expect(source.vectors.size).toBe(passages.reduce((n, p) => n + splitWords(p.text).length, 0));
    for (const q of queries) {
      const [qv] = await encoder.encodeQueries([q]);
      const truth = bruteForce(passages, qv!);
      for (const k of [1, 7, 25, 500]) {
        const got = await source.search(q, { k });
        expect(got.map((c) => c.id)).toEqual(truth.slice(0, k).map((t) => t.id));
        got.forEach((c, i) => expect(c.score).toBeCloseTo(truth[i]!.score, 5));
        for (const c of got) {
          const p = passages.find((x) => x.id === c.id)!;
          expect(c.text).toBe(p.text);
          expect(c.metadata).toEqual(p.metadata);
        }
      }
    }
  });

  it('filters keep working: the best windows of the matching documents only', async () => {
    const { source, encoder } = await build();
    // in ann mode too (a filter searches exactly)
    const ann = await createDenseSource({ encoder, mode: 'ann', annBackend: 'js', windows: WINDOWS });
    await ann.index(passages);
    for (const q of queries) {
      const [qv] = await encoder.encodeQueries([q]);
      const truth = bruteForce(passages, qv!, { group: 1 });
      const got = await source.search(q, { k: 10, filter: { group: 1 } });
      expect(got.map((c) => c.id)).toEqual(truth.slice(0, 10).map((t) => t.id));
      expect(got.every((c) => c.metadata?.['group'] === 1)).toBe(true);
      expect((await ann.search(q, { k: 10, filter: { group: 1 } })).map((c) => c.id)).toEqual(got.map((c) => c.id));
    }
  });

  it('ann: distinct documents, recall@10 against exact >= 0.9', async () => {
    const { source: exact, encoder } = await build();
    const ann = await createDenseSource({ encoder, mode: 'ann', annBackend: 'js', windows: WINDOWS });
    await ann.index(passages);
    let found = 0;
    for (const q of queries) {
      const truth = new Set((await exact.search(q, { k: 10 })).map((c) => c.id));
      const got = await ann.search(q, { k: 10 });
      expect(got).toHaveLength(10);
      expect(new Set(got.map((c) => c.id)).size).toBe(10);
      found += got.filter((c) => truth.has(c.id)).length;
    }
    expect(found / (queries.length * 10)).toBeGreaterThanOrEqual(0.9);
    // every document reachable: k = all documents returns each once
    expect(new Set((await ann.search('alpha', { k: 1000 })).map((c) => c.id)).size).toBe(passages.length);
  });

  it('saves and reloads windows; an index of another windowing is refused', async () => {
    const dir = join(root, 'persist');
    const { source } = await build({ dir });
    const again = await createDenseSource({ encoder: new HashEncoder(), dir, windows: WINDOWS, onNotice: () => {} });
    expect(await again.count()).toBe(passages.length);
    expect(again.vectors.size).toBe(source.vectors.size);
    for (const q of queries) expect(await again.search(q, { k: 15 })).toEqual(await source.search(q, { k: 15 }));
    await expect(createDenseSource({ encoder: new HashEncoder(), dir })).rejects.toThrow(
      /built over windows 3-2, not whole documents/,
    );
    await expect(
      createDenseSource({ encoder: new HashEncoder(), dir, windows: { split: splitWords, name: '4-2' } }),
    ).rejects.toThrow(/windows 3-2, not windows 4-2/);
  });

  it('re-indexing a document with fewer windows leaves no stale window findable (exact, ann, after reload)', async () => {
    const dir = join(root, 'reindex');
    const long = { id: 'long', text: 'zz0 zz1 zz2 zz3 zz4 zz5 zz6 zz7 zz8 zz9 zz10' };
    const docs = [...passages.slice(0, 40), long];
    const { source } = await build({ dir, docs });
    const oldWindows = splitWords(long.text);
    expect(oldWindows.length).toBe(5);
    expect(source.vectors.rowsOfId('long')).toHaveLength(5);
    const shorter = { id: 'long', text: 'zz0 zz1 zz2 zz3 zz4' }; // 2 windows
    await source.index([shorter]);
    expect(source.vectors.rowsOfId('long')).toHaveLength(2);
    expect(source.vectors.dead).toBe(3);
    expect(await source.count()).toBe(41);
    const ann = await createDenseSource({
      encoder: new HashEncoder(),
      mode: 'ann',
      annBackend: 'js',
      windows: WINDOWS,
    });
    await ann.index(docs);
    await ann.index([shorter]);
    const annSources: DenseSource[] = [ann];
    if ('module' in hnswlib) {
      // hnswlib re-inserts overwritten rows in place; the dead ones stay in its graph and must be skipped
      const lib = await createDenseSource({
        encoder: new HashEncoder(),
        mode: 'ann',
        annBackend: 'hnswlib',
        loadHnswlib: () => hnswlib.module,
        windows: WINDOWS,
      });
      await lib.index(docs);
      await lib.index([shorter]);
      expect(lib.vectors.currentGraph?.backend).toBe('hnswlib');
      annSources.push(lib);
    } else console.log(`hnswlib part skipped: ${hnswlib.reason}`);
    const reloaded = await createDenseSource({ encoder: new HashEncoder(), dir, windows: WINDOWS, onNotice: () => {} });
    expect(reloaded.vectors.dead).toBe(3);
    const newBest = (q: Float32Array) => Math.max(...splitWords(shorter.text).map((w) => dot(q, vectorOf(w.text))));
    for (const gone of oldWindows.slice(2)) {
      // the query IS a removed window's vector: a stale row would score |v|^2, above anything else
      const q = vectorOf(gone.text);
      for (const [s, mode] of [
        [source, 'exact'] as const,
        [reloaded, 'exact'] as const,
        ...annSources.map((a) => [a, 'ann'] as const),
      ]) {
        const hits = s.searchVector(q, { k: 1000, mode });
        const rows = hits.filter((h) => s.vectors.docs[h.row]!.id === 'long');
        expect(rows).toHaveLength(1);
        expect(rows[0]!.score).toBeCloseTo(newBest(q), 5);
        expect(hits).toHaveLength(41);
      }
    }
    const [c] = (await source.search('zz', { k: 1000 })).filter((x) => x.id === 'long');
    expect(c!.text).toBe(shorter.text);
    // and back to more windows: new rows, the document once
    await source.index([long]);
    expect(source.vectors.rowsOfId('long')).toHaveLength(5);
    expect(source.searchVector(vectorOf(oldWindows[4]!.text), { k: 1 })[0]!.score).toBeCloseTo(
      dot(vectorOf(oldWindows[4]!.text), vectorOf(oldWindows[4]!.text)),
      5,
    );
  });

  it('documents that fit one window keep exactly the rows, files and results of an index without windows', async () => {
    const short = corpus(50, 2, 9); // at most 3 words with the number: splitWords keeps them whole
    expect(short.every((p) => splitWords(p.text).length === 1)).toBe(true);
    const withWindows = join(root, 'short-windows');
    const without = join(root, 'short-plain');
    const a = (await build({ dir: withWindows, docs: short })).source;
    const b = (await build({ dir: without, docs: short, windows: undefined })).source;
    expect(await readFile(join(withWindows, 'vectors.f32'))).toEqual(await readFile(join(without, 'vectors.f32')));
    expect(await readFile(join(withWindows, 'docs.jsonl'), 'utf8')).toBe(
      await readFile(join(without, 'docs.jsonl'), 'utf8'),
    );
    for (const q of queries) expect(await a.search(q, { k: 10 })).toEqual(await b.search(q, { k: 10 }));
  });

  it('window vectors go through the vector cache under each window text, as the windowed reranker keys them', async () => {
    const store = new MemoryVectorStore({ dimension: DIM });
    const first = new HashEncoder();
    const source: DenseSource = await createDenseSource({ encoder: first, vectorStore: store, windows: WINDOWS });
    const docs = passages.slice(0, 30);
    await source.index(docs);
    const keys = docs.flatMap((p) => splitWords(p.text).map((w) => ({ id: p.id, text: w.text })));
    expect(first.encoded).toEqual(keys.map((k) => k.text));
    const cached = await store.getMany(keys);
    cached.forEach((v, i) => expect(Array.from(v!)).toEqual(Array.from(vectorOf(keys[i]!.text))));
    // a second index over the same cache encodes nothing
    const second = new HashEncoder();
    await (await createDenseSource({ encoder: second, vectorStore: store, windows: WINDOWS })).index(docs);
    expect(second.encoded).toEqual([]);
  });

  it('openFirstStage keeps a windowed index in its own folder, named by the configured window sizes', async () => {
    const config = loadConfig({ DOTRANK_PASSAGE_WINDOW_TOKENS: '64' });
    const dataDir = join(root, 'bm25-index');
    const encoder = new HashEncoder();
    const bm25 = {} as CandidateSource; // not used by the dense stage
    const docs = passages.slice(0, 20);
    const windowed = await openFirstStage(config, {
      firstStage: 'dense',
      bm25,
      encoder,
      dataDir,
      windows: { split: splitWords },
      passages: () => docs,
    });
    const plain = await openFirstStage(config, { firstStage: 'dense', bm25, encoder, dataDir, passages: () => docs });
    const windowedDir = denseDirFor(dataDir, encoder, '64-half');
    expect(windowedDir).toMatch(/hash-test@r1\+windows-64-half$/);
    const manifest = JSON.parse(await readFile(join(windowedDir, 'dense.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest['windows']).toBe('64-half');
    expect(manifest['documents']).toBe(20);
    expect(manifest['count']).toBe(docs.reduce((n, p) => n + splitWords(p.text).length, 0));
    const plainManifest = JSON.parse(await readFile(join(denseDirFor(dataDir, encoder), 'dense.json'), 'utf8'));
    expect(plainManifest.count).toBe(20);
    expect(plainManifest.windows).toBeUndefined();
    expect(await windowed.count()).toBe(20);
    expect(await plain.count()).toBe(20);
  });

  it('with the tiny model and its tokenizer: exact documents by best window equal brute force over encoded windows', async () => {
    const manifest = await readManifest(tinyModelDir());
    const tokenizer = await TextTokenizer.fromFile(manifest.tokenizerPath);
    const options = { windowTokens: 16, stride: 8 };
    const windows: NamedPassageSplitter = { split: (t) => splitIntoWindows(t, tokenizer, options), name: '16-8' };
    const encoder = await loadEncoder(tinyModelDir());
    try {
      const docs = CONTRACT_PASSAGES.map((p, i) => ({
        id: p.id,
        // every other passage made long by joining the next two, so some documents span several windows
        text: i % 2 === 0 ? [p, ...CONTRACT_PASSAGES.slice(i + 1, i + 3)].map((x) => x.text).join(' ') : p.text,
      }));
      const source = await createDenseSource({ encoder, windows });
      await source.index(docs);
      expect(source.vectors.size).toBeGreaterThan(docs.length);
      const query = 'boundary layer';
      const [qv] = await encoder.encodeQueries([query]);
      const truth: { id: string; score: number }[] = [];
      for (const d of docs) {
        const parts = windows.split(d.text);
        const vectors = await encoder.encodePassages(parts.map((w) => w.text));
        truth.push({ id: d.id, score: Math.max(...vectors.map((v) => dot(qv!, v))) });
      }
      truth.sort((a, b) => b.score - a.score);
      const got = await source.search(query, { k: docs.length });
      expect(got.map((c) => c.id)).toEqual(truth.map((t) => t.id));
      got.forEach((c, i) => expect(c.score).toBeCloseTo(truth[i]!.score, 4));
    } finally {
      await encoder.close();
    }
  });
});
