// HybridSource: RRF and interpolation over the real embedded BM25 and dense sources (tiny model).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTRACT_PASSAGES, tinyModelDir } from '@dotrank/core/testing';
import { createEmbeddedSource } from '@dotrank/bm25';
import { loadEncoder } from '@dotrank/encoder';
import type { Encoder } from '@dotrank/encoder';
import { createDenseSource } from '../src/source.js';
import { fuseCandidates, HybridSource } from '../src/hybrid.js';

describe('fuseCandidates', () => {
  const bm25 = [
    { id: 'a', text: 'A', score: 9 },
    { id: 'b', text: 'B', score: 5 },
  ];
  const dense = [
    { id: 'c', text: 'C', score: 80 },
    { id: 'a', text: 'A', score: 70 },
    { id: 'd', text: 'D', score: 60 },
  ];

  it('rrf: sum of 1/(60 + rank), de-duplicated by id, per-source scores kept', () => {
    const fused = fuseCandidates(bm25, dense);
    expect(fused.map((c) => c.id)).toEqual(['a', 'c', 'b', 'd']);
    expect(fused[0]).toMatchObject({ id: 'a', bm25Score: 9, denseScore: 70 });
    expect(fused[0]!.score).toBeCloseTo(1 / 61 + 1 / 62, 12);
    expect(fused[1]!.score).toBeCloseTo(1 / 61, 12);
    expect(fused[2]).toMatchObject({ id: 'b', bm25Score: 5 });
    expect(fused[2]!.denseScore).toBeUndefined();
  });

  it('interpolate: alpha * minmax(bm25) + (1 - alpha) * minmax(dense)', () => {
    const fused = fuseCandidates(bm25, dense, { fusion: 'interpolate', alpha: 0.25 });
    const byId = Object.fromEntries(fused.map((c) => [c.id, c.score]));
    expect(byId['a']).toBeCloseTo(0.25 * 1 + 0.75 * 0.5, 12);
    expect(byId['b']).toBeCloseTo(0, 12);
    expect(byId['c']).toBeCloseTo(0.75, 12);
    expect(byId['d']).toBeCloseTo(0, 12);
  });

  it('names the bad option', () => {
    expect(() => fuseCandidates([], [], { alpha: 2 })).toThrow(/alpha/);
    expect(() => new HybridSource({ bm25: undefined as never, dense: undefined as never })).toThrow(/bm25/);
  });
});

describe('HybridSource over embedded BM25 + dense', () => {
  let encoder: Encoder;
  beforeAll(async () => {
    encoder = await loadEncoder(tinyModelDir(), { intraOpThreads: 1 });
  });
  afterAll(async () => {
    await encoder?.close();
  });

  it('indexes both, fuses their lists and keeps the union on request', async () => {
    const bm25 = await createEmbeddedSource();
    const dense = await createDenseSource({ encoder });
    const hybrid = new HybridSource({ bm25, dense });
    expect(hybrid.kind).toBe('hybrid');
    const report = await hybrid.index(CONTRACT_PASSAGES);
    expect(report).toMatchObject({ indexed: 5, failed: 0 });
    expect(await bm25.count()).toBe(5);
    expect(await dense.count()).toBe(5);
    const lexical = await bm25.search('boundary layer', { k: 3 });
    const vectors = await dense.search('boundary layer', { k: 3 });
    const fused = await hybrid.search('boundary layer', { k: 3 });
    expect(fused).toEqual(fuseCandidates(lexical, vectors).slice(0, 3));
    const union = await new HybridSource({ bm25, dense, keepUnion: true }).search('boundary layer', { k: 3 });
    expect(new Set(union.map((c) => c.id))).toEqual(new Set([...lexical, ...vectors].map((c) => c.id)));
    // A query no passage matches lexically still gets dense candidates.
    const dz = await hybrid.search('zeppelin', { k: 2 });
    expect(dz).toHaveLength(2);
    expect(dz.every((c) => c.bm25Score === undefined && c.denseScore !== undefined)).toBe(true);
    await hybrid.close();
  });
});
