import { describe, expect, it } from 'vitest';
import { fuse, minMaxNormalize, zScoreNormalize, RRF_K, type FuseOptions } from '../src/fusion.js';

// Three candidates; expected values below are computed by hand from the formulas in the README.
type Item = { id: string; bm25Score: number; tasbScore?: number };
const items = [
  { id: 'a', bm25Score: 10, tasbScore: 1 },
  { id: 'b', bm25Score: 6, tasbScore: 5 },
  { id: 'c', bm25Score: 2, tasbScore: 3 },
];

describe('normalization', () => {
  it('min-max maps to [0, 1]; a constant list to zeros', () => {
    expect(minMaxNormalize([10, 6, 2])).toEqual([1, 0.5, 0]);
    expect(minMaxNormalize([4, 4])).toEqual([0, 0]);
  });
  it('z-score uses the population standard deviation', () => {
    // mean 6, sd sqrt((16 + 0 + 16) / 3) = sqrt(32/3)
    const sd = Math.sqrt(32 / 3);
    const z = zScoreNormalize([10, 6, 2]);
    expect(z[0]).toBeCloseTo(4 / sd, 12);
    expect(z[1]).toBeCloseTo(0, 12);
    expect(z[2]).toBeCloseTo(-4 / sd, 12);
    expect(zScoreNormalize([3, 3, 3])).toEqual([0, 0, 0]);
  });
});

/** fuse over the items' columns, read back as one row per ranked candidate. */
function fuseItems(list: readonly Item[], options: FuseOptions, textless?: number[]) {
  const tasb = list.map((it) => it.tasbScore);
  const columns = {
    ids: list.map((it) => it.id),
    scores: list.map((it) => it.bm25Score),
    ...(tasb.every((v) => v !== undefined) ? { tasbScores: tasb as number[] } : {}),
  };
  const out = fuse(columns, options, textless);
  expect(out.score).toHaveLength(out.index.length);
  return out.index.map((i, r) => ({
    id: list[i]!.id,
    rank: r + 1,
    score: out.score[r]!,
    tasbScore: out.tasbScore?.[r],
  }));
}

describe('fuse', () => {
  it('bm25 keeps the first-stage order and scores', () => {
    const out = fuseItems(items, { mode: 'bm25' });
    expect(out.map((o) => [o.id, o.rank, o.score])).toEqual([
      ['a', 1, 10],
      ['b', 2, 6],
      ['c', 3, 2],
    ]);
  });

  it('tasb orders by the dot product, which is the score', () => {
    const out = fuseItems(items, { mode: 'tasb' });
    expect(out.map((o) => [o.id, o.score])).toEqual([
      ['b', 5],
      ['c', 3],
      ['a', 1],
    ]);
  });

  it('interpolate with min-max: alpha * bm25n + (1 - alpha) * tasbn', () => {
    // bm25n = [1, .5, 0], tasbn = [0, 1, .5]
    // alpha .5: a .5, b .75, c .25 ; alpha .8: a .8, b .6, c .1
    expect(fuseItems(items, { mode: 'interpolate' }).map((o) => [o.id, o.score])).toEqual([
      ['b', 0.75],
      ['a', 0.5],
      ['c', 0.25],
    ]);
    const heavy = fuseItems(items, { mode: 'interpolate', alpha: 0.8 });
    expect(heavy.map((o) => o.id)).toEqual(['a', 'b', 'c']);
    expect(heavy[0]!.score).toBeCloseTo(0.8, 12);
    expect(heavy[1]!.score).toBeCloseTo(0.6, 12);
    expect(heavy[2]!.score).toBeCloseTo(0.1, 12);
  });

  it('interpolate with z-score', () => {
    // bm25 z = [4, 0, -4] / sqrt(32/3); tasb mean 3, z = [-2, 2, 0] / sqrt(8/3)
    const sb = Math.sqrt(32 / 3);
    const st = Math.sqrt(8 / 3);
    const out = fuseItems(items, { mode: 'interpolate', normalization: 'zscore', alpha: 0.5 });
    const expected = { a: 0.5 * (4 / sb) + 0.5 * (-2 / st), b: 0.5 * 0 + 0.5 * (2 / st), c: 0.5 * (-4 / sb) + 0 };
    expect(out.map((o) => o.id)).toEqual(['b', 'a', 'c']);
    for (const o of out) expect(o.score).toBeCloseTo(expected[o.id as 'a' | 'b' | 'c'], 12);
  });

  it('rrf: 1/(60 + bm25 rank) + 1/(60 + dense rank)', () => {
    // bm25 ranks a1 b2 c3; dense ranks b1 c2 a3
    const out = fuseItems(items, { mode: 'rrf' });
    const expected = { a: 1 / 61 + 1 / 63, b: 1 / 62 + 1 / 61, c: 1 / 63 + 1 / 62 };
    expect(RRF_K).toBe(60);
    expect(out.map((o) => o.id)).toEqual(['b', 'a', 'c']);
    for (const o of out) expect(o.score).toBeCloseTo(expected[o.id as 'a' | 'b' | 'c'], 15);
  });

  it('breaks ties by first-stage rank, then id, and ranks from 1', () => {
    const tied = [
      { id: 'z', bm25Score: 1, tasbScore: 2 },
      { id: 'y', bm25Score: 3, tasbScore: 2 },
      { id: 'x', bm25Score: 1, tasbScore: 2 },
      { id: 'w', bm25Score: 1, tasbScore: 2 },
    ];
    // first-stage ranks: y 1, then z x w by input order (2, 3, 4)
    expect(fuseItems(tied, { mode: 'tasb' }).map((o) => [o.id, o.rank])).toEqual([
      ['y', 1],
      ['z', 2],
      ['x', 3],
      ['w', 4],
    ]);
    // a constant first stage: ids decide only when first-stage ranks tie, which input order prevents; rrf symmetric swap:
    const swap = [
      { id: 'p', bm25Score: 2, tasbScore: 1 },
      { id: 'q', bm25Score: 1, tasbScore: 2 },
    ];
    const rrf = fuseItems(swap, { mode: 'rrf' });
    expect(rrf[0]!.score).toBe(rrf[1]!.score);
    expect(rrf.map((o) => o.id)).toEqual(['p', 'q']);
    // reversed input gives the same fused order (first stage decides, not input position)
    expect(fuseItems([...swap].reverse(), { mode: 'rrf' }).map((o) => o.id)).toEqual(['p', 'q']);
  });

  it('keeps the best k', () => {
    expect(fuseItems(items, { mode: 'tasb', k: 2 }).map((o) => o.id)).toEqual(['b', 'c']);
  });

  it('places the textless candidates after the others, in first-stage order, without a dense score', () => {
    const list = [...items, { id: 'd', bm25Score: 8, tasbScore: 0 }, { id: 'e', bm25Score: 9, tasbScore: 0 }];
    // a, b, c fused among themselves (as alone), then e (9) and d (8) by first-stage score, keeping it as score
    const alone = fuseItems(items, { mode: 'rrf' });
    const out = fuseItems(list, { mode: 'rrf' }, [3, 4]);
    expect(out.slice(0, 3)).toEqual(alone);
    expect(out.slice(3)).toEqual([
      { id: 'e', rank: 4, score: 9, tasbScore: undefined },
      { id: 'd', rank: 5, score: 8, tasbScore: undefined },
    ]);
    // the best k cut through the tail; bm25 needs no text, so there the textless are fused as usual
    expect(fuseItems(list, { mode: 'tasb', k: 4 }, [3, 4]).map((o) => o.id)).toEqual(['b', 'c', 'a', 'e']);
    expect(fuseItems(list, { mode: 'bm25' }, [3, 4]).map((o) => o.id)).toEqual(['a', 'e', 'd', 'b', 'c']);
  });

  it('names the missing dense score and bad alpha', () => {
    expect(() => fuseItems([{ id: 'a', bm25Score: 1 }], { mode: 'rrf' })).toThrow(/candidates\.0\.tasbScore/);
    expect(() => fuseItems(items, { mode: 'interpolate', alpha: 2 })).toThrow(/alpha: must be between 0 and 1/);
  });
});
