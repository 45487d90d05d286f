import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, ValidationError } from '@dotrank/core';
import type { Passage } from '@dotrank/core';
import { candidateSourceContract, seededRandom } from '@dotrank/core/testing';
import { analyze } from '../src/analyzer.js';
import { avgFieldLength, clauseWeight, idf, normInverseCache, termScore } from '../src/similarity.js';
import { BM25Index } from '../src/bm25-index.js';
import { byte4ToInt, intToByte4 } from '../src/small-float.js';
import { createEmbeddedSource } from '../src/source.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dotrank-bm25-'));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

candidateSourceContract('embedded bm25 (memory)', () => createEmbeddedSource());
candidateSourceContract('embedded bm25 (saved to a directory)', async () =>
  createEmbeddedSource({ dir: join(await tempDir(), 'idx') }),
);

/** A corpus with a skewed (Zipf-like) vocabulary and varied lengths, so pruning and block skipping both happen. */
function syntheticCorpus(n: number, seed: number): Passage[] {
  const next = seededRandom(seed);
  const vocab = Array.from({ length: 400 }, (_, i) => `w${i}`);
  return Array.from({ length: n }, (_, d) => {
    const len = Math.floor(next() * 60);
    const words: string[] = [];
    for (let i = 0; i < len; i++) words.push(vocab[Math.floor(vocab.length * next() ** 3)]!);
    return { id: `d${d}`, text: words.join(' '), metadata: { parity: d % 2 === 0 ? 'even' : 'odd' } };
  });
}

/** Exhaustive scoring straight from Lucene's formulas: every document, every clause, then a full sort. */
function bruteForce(
  passages: Passage[],
  query: string,
  k: number,
  k1 = 1.2,
  b = 0.75,
): Array<{ id: string; score: number }> {
  const docs = passages.map((p) => analyze(p.text));
  const tf = docs.map((tokens) => {
    const m = new Map<string, number>();
    for (const t of tokens) m.set(t, (m.get(t) ?? 0) + 1);
    return m;
  });
  const df = new Map<string, number>();
  for (const m of tf) for (const t of m.keys()) df.set(t, (df.get(t) ?? 0) + 1);
  const live = docs.filter((t) => t.length > 0);
  const docCount = live.length;
  const sumTtf = live.reduce((a, t) => a + t.length, 0);
  const cache = normInverseCache({ k1, b }, avgFieldLength(sumTtf, docCount));
  // A term repeated in the query is one clause whose boost is the repetition count (Lucene's BooleanQuery rewrite).
  const counts = new Map<string, number>();
  for (const t of analyze(query)) counts.set(t, (counts.get(t) ?? 0) + 1);
  const scored: Array<{ id: string; score: number; doc: number }> = [];
  docs.forEach((tokens, d) => {
    let sum = 0;
    let matched = false;
    for (const [term, boost] of counts) {
      const freq = tf[d]!.get(term) ?? 0;
      if (freq === 0) continue;
      matched = true;
      sum += termScore(clauseWeight(boost, idf(df.get(term)!, docCount)), freq, cache[intToByte4(tokens.length)]!);
    }
    if (matched) scored.push({ id: passages[d]!.id, score: Math.fround(sum), doc: d });
  });
  scored.sort((x, y) => y.score - x.score || x.doc - y.doc);
  return scored.slice(0, k).map(({ id, score }) => ({ id, score }));
}

describe('SmallFloat norms', () => {
  it('is exact below 24, monotone, and never decodes above the input', () => {
    for (let i = 0; i < 24; i++) expect(byte4ToInt(intToByte4(i))).toBe(i);
    let prev = -1;
    for (let i = 0; i < 200_000; i += 1 + (i >> 6)) {
      const byte = intToByte4(i);
      expect(byte).toBeGreaterThanOrEqual(prev);
      expect(byte4ToInt(byte)).toBeLessThanOrEqual(i);
      expect(byte4ToInt(byte + 1 > 255 ? 255 : byte + 1)).toBeGreaterThanOrEqual(byte === 255 ? 0 : i + 1);
      prev = byte;
    }
    expect(intToByte4(2 ** 31 - 1)).toBe(255);
  });
});

describe('BM25Index', () => {
  const corpus = syntheticCorpus(3000, 42);
  const index = new BM25Index();
  for (const p of corpus) index.add(p);
  const queries = ['w0 w1', 'w3 w17 w200', 'w399 w5 w5', 'w1 w2 w3 w4 w5 w6 w7 w8', 'w250', 'w0 w0 w0 w12 nothing'];

  it('finds the exhaustive top-k with dynamic pruning (k = 1, 10, 1000)', () => {
    for (const q of queries) {
      for (const k of [1, 10, 1000]) {
        const got = index.search(q, { k }).map(({ id, score }) => ({ id, score }));
        expect(got, `${q} k=${k}`).toEqual(bruteForce(corpus, q, k));
      }
    }
  });

  it('applies metadata filters inside the top-k', () => {
    const got = index.search('w3 w17', { k: 20, filter: { parity: 'odd' } });
    // Scores use whole-index statistics, so compare the order of ids, computed on the whole corpus.
    const whole = bruteForce(corpus, 'w3 w17', 3000)
      .filter((r) => Number(r.id.slice(1)) % 2 === 1)
      .slice(0, 20);
    expect(got.map((r) => r.id)).toEqual(whole.map((r) => r.id));
    expect(got).toHaveLength(20);
  });

  it('keeps statistics right after replacing and deleting documents', () => {
    const small = new BM25Index();
    const docs = syntheticCorpus(300, 3);
    for (const p of docs) small.add(p);
    small.search('w1', { k: 5 }); // freeze, then thaw on the next add
    const replaced = docs.map((p, i) => (i % 7 === 0 ? { ...p, text: `${p.text} w5 w5 extra` } : p));
    for (const p of replaced.filter((_, i) => i % 7 === 0)) small.add(p);
    expect(small.delete('d1')).toBe(true);
    expect(small.delete('missing')).toBe(false);
    const remaining = replaced.filter((p) => p.id !== 'd1');
    // Order of documents changed (replacements went to the end): compare as sets of (id, score).
    for (const q of ['w5 extra', 'w1 w2', 'w0']) {
      const got = small.search(q, { k: 400 });
      const want = bruteForce(remaining, q, 400);
      expect(new Map(got.map((r) => [r.id, r.score]))).toEqual(new Map(want.map((r) => [r.id, r.score])));
    }
    expect(small.size).toBe(299);
  });

  it('rejects passages without id or text and bad k, with the field named', () => {
    expect(() => index.add({ id: '', text: 'x' })).toThrow(ValidationError);
    expect(() => index.add({ id: 'x', text: 3 as unknown as string })).toThrow(/text/);
    expect(() => index.search('w1', { k: 0 })).toThrow(/^k:/);
    expect(() => new BM25Index({ b: 2 })).toThrow(ConfigError);
  });

  it('saves and loads with identical results, and refuses mismatching parameters or format', async () => {
    const dir = join(await tempDir(), 'saved');
    await index.save(dir);
    const loaded = await BM25Index.load(dir);
    for (const q of queries) expect(loaded.search(q, { k: 100 })).toEqual(index.search(q, { k: 100 }));
    expect(loaded.size).toBe(index.size);
    await expect(BM25Index.load(dir, { k1: 0.9 })).rejects.toThrow(/k1.*1\.2.*0\.9/);
    await expect(BM25Index.load(join(dir, 'nope'))).rejects.toThrow(/no saved BM25 index/);
    const manifestPath = join(dir, 'manifest.json');
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Record<string, unknown>;
    await writeFile(manifestPath, JSON.stringify({ ...manifest, formatVersion: 99 }));
    await expect(BM25Index.load(dir)).rejects.toThrow(/formatVersion.*99/);
    // A loaded index keeps accepting documents.
    loaded.add({ id: 'new', text: 'w399 w399 w399' });
    expect(loaded.search('w399', { k: 1 })[0]!.id).toBe('new');
  });

  it('saves by replacing the whole folder (nothing left beside it) and refuses a folder holding other files', async () => {
    const parent = await tempDir();
    const dir = join(parent, 'replaced');
    await index.save(dir);
    const small = new BM25Index();
    small.add({ id: 'only', text: 'w1 w2' });
    await small.save(dir);
    expect((await BM25Index.load(dir)).size).toBe(1);
    expect((await readdir(parent)).sort()).toEqual(['replaced']);
    await writeFile(join(parent, 'notes.txt'), 'mine');
    await expect(small.save(parent)).rejects.toThrow(
      /holds files that are not part of a dotrank BM25 index \(notes\.txt/,
    );
    expect(await readFile(join(parent, 'notes.txt'), 'utf8')).toBe('mine');
    expect((await readdir(parent)).sort()).toEqual(['notes.txt', 'replaced']);
  });

  it('reloads a source from its directory after a restart without re-indexing', async () => {
    const dir = join(await tempDir(), 'restart');
    const first = await createEmbeddedSource({ dir });
    await first.index(corpus.slice(0, 100));
    await first.close();
    const second = await createEmbeddedSource({ dir });
    expect(await second.count()).toBe(100);
    expect((await second.search('w1', { k: 3 })).map((r) => r.id)).toEqual(
      (await first.engine.search('w1', { k: 3 })).map((r) => r.id),
    );
    const report = await second.index([
      { id: '', text: 'bad' },
      { id: 'ok', text: 'fine' },
    ]);
    expect(report).toMatchObject({ indexed: 1, failed: 1, skipped: 0 });
    expect(report.failures[0]!.reason).toMatch(/^id:/);
  });
});
