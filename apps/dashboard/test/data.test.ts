import { describe, expect, it } from 'vitest';
import {
  compareIds,
  defaultComparedSystem,
  defaultDeltaMeasure,
  depthForRecallFraction,
  formatNumber,
  formatSigned,
  measureLabel,
  movementLabel,
  orderMeasures,
  paginate,
  perQueryDeltas,
  pushBounded,
  rankMovements,
  recallPoints,
  significanceMarker,
  significanceTitle,
  winTieLoss,
} from '../src/data.js';
import type { MetricsReport, SystemReport } from '../src/types.js';

const system = (perQuery: Record<string, number>, measure = 'ndcg_cut.10'): SystemReport => ({
  aggregate: {},
  perQuery: Object.fromEntries(Object.entries(perQuery).map(([q, v]) => [q, { [measure]: v }])),
});

describe('perQueryDeltas', () => {
  it('subtracts the baseline per query and sorts from largest gain to largest loss', () => {
    const bm25 = system({ '1': 0.5, '2': 0.25, '3': 0.75, '10': 0.1 });
    const tasb = system({ '1': 0.75, '2': 0.25, '3': 0.25, '10': 0.6 });
    const deltas = perQueryDeltas(tasb, bm25, 'ndcg_cut.10');
    expect(deltas.map((d) => d.qid)).toEqual(['10', '1', '2', '3']);
    expect(deltas.map((d) => d.delta)).toEqual([0.5, 0.25, 0, -0.5]);
    expect(deltas[0]).toEqual({ qid: '10', baseline: 0.1, system: 0.6, delta: 0.5 });
  });

  it('orders equal deltas by natural query id and leaves out queries missing on either side', () => {
    const bm25 = system({ '10': 0.2, '2': 0.2, '9': 0.2, only_bm25: 1 });
    const tasb = system({ '10': 0.2, '2': 0.2, '9': 0.2, only_tasb: 1 });
    expect(perQueryDeltas(tasb, bm25, 'ndcg_cut.10').map((d) => d.qid)).toEqual(['2', '9', '10']);
  });

  it('handles 5,000 queries', () => {
    const n = 5000;
    const base: Record<string, number> = {};
    const sys: Record<string, number> = {};
    for (let i = 0; i < n; i++) {
      base[String(i)] = (i % 7) / 7;
      sys[String(i)] = (i % 5) / 5;
    }
    const deltas = perQueryDeltas(system(sys), system(base), 'ndcg_cut.10');
    expect(deltas).toHaveLength(n);
    const unsorted = deltas.findIndex((d, i) => i > 0 && deltas[i - 1]!.delta < d.delta);
    expect(unsorted).toBe(-1);
  });
});

describe('winTieLoss', () => {
  it('counts wins, ties and losses, treating float noise as a tie', () => {
    const d = (delta: number) => ({ qid: 'q', baseline: 0, system: delta, delta });
    expect(winTieLoss([d(0.1), d(0.3), d(0), d(1e-12), d(-0.2)])).toEqual({ wins: 2, ties: 2, losses: 1 });
    expect(winTieLoss([])).toEqual({ wins: 0, ties: 0, losses: 0 });
  });
});

describe('recall curve', () => {
  it('sorts points by depth and drops broken pairs', () => {
    expect(recallPoints({ depths: [100, 10, 1000, 50], recall: [0.8, 0.5, 0.9, NaN] })).toEqual([
      { depth: 10, recall: 0.5 },
      { depth: 100, recall: 0.8 },
      { depth: 1000, recall: 0.9 },
    ]);
  });

  it('finds the first depth reaching a fraction of the deepest recall', () => {
    const points = recallPoints({ depths: [10, 100, 200, 1000], recall: [0.4, 0.8, 0.86, 0.9] });
    // 95 % of 0.9 is 0.855: first reached at depth 200.
    expect(depthForRecallFraction(points, 0.95)).toEqual({ depth: 200, recall: 0.86 });
    expect(depthForRecallFraction(points, 1)).toEqual({ depth: 1000, recall: 0.9 });
    expect(depthForRecallFraction([], 0.95)).toBeNull();
  });
});

describe('rankMovements', () => {
  it('labels moves up, down, unchanged and new documents', () => {
    const moved = rankMovements(['a', 'b', 'c', 'd', 'e'], ['d', 'b', 'a', 'x']);
    expect(moved).toEqual([
      { id: 'd', rank: 1, baselineRank: 4, movement: { kind: 'up', by: 3 } },
      { id: 'b', rank: 2, baselineRank: 2, movement: { kind: 'same' } },
      { id: 'a', rank: 3, baselineRank: 1, movement: { kind: 'down', by: 2 } },
      { id: 'x', rank: 4, baselineRank: null, movement: { kind: 'new' } },
    ]);
    expect(moved.map((m) => movementLabel(m.movement))).toEqual(['↑3', '=', '↓2', 'new']);
  });
});

describe('significance and formatting', () => {
  const sig = (randomization: number | null, tTest: number | null = randomization) => ({
    pValueTTest: tTest,
    pValueRandomization: randomization,
    wins: 1,
    ties: 0,
    losses: 0,
    delta: 0.1,
  });
  it('marks p < 0.05 of the randomization test with †, falling back to the t-test', () => {
    expect(significanceMarker(sig(0.2))).toBe('');
    expect(significanceMarker(sig(0.049))).toBe('†');
    expect(significanceMarker(sig(0.05))).toBe('');
    expect(significanceMarker(sig(0.001))).toBe('†');
    expect(significanceMarker(sig(0.2, 0.001))).toBe('');
    expect(significanceMarker(sig(null, 0.01))).toBe('†');
    expect(significanceMarker(sig(null, null))).toBe('');
    expect(significanceMarker(undefined)).toBe('');
  });

  it('explains a marker with both p-values and the counts', () => {
    expect(significanceTitle(sig(0.0123, 0.0456), 'bm25')).toBe(
      'vs bm25: Δ +0.1000; randomization p = 0.0123; paired t-test p = 0.0456; wins/ties/losses 1/0/0',
    );
  });

  it('formats to four decimals and signs deltas', () => {
    expect(formatNumber(0.123456)).toBe('0.1235');
    expect(formatNumber(null)).toBe('—');
    expect(formatSigned(0.5)).toBe('+0.5000');
    expect(formatSigned(-0.25)).toBe('−0.2500');
  });

  it('names trec_eval measures the way papers do', () => {
    expect(measureLabel('ndcg_cut.10')).toBe('nDCG@10');
    expect(measureLabel('recip_rank')).toBe('MRR');
    expect(measureLabel('recip_rank_cut.10')).toBe('MRR@10');
    expect(measureLabel('recall.1000')).toBe('Recall@1000');
    expect(measureLabel('map')).toBe('MAP');
    expect(measureLabel('P.10')).toBe('P@10');
    // @dotrank/eval spells cut-offs with an underscore
    expect(measureLabel('ndcg_cut_10')).toBe('nDCG@10');
    expect(measureLabel('recip_rank_cut_10')).toBe('MRR@10');
    expect(measureLabel('recall_100')).toBe('Recall@100');
    expect(measureLabel('Rprec')).toBe('R-Prec');
  });

  it("shows dotrank eval's Judged@10 and condensed (-J) measures after the usual ones, labelled as trec_eval users read them", () => {
    expect(measureLabel('Judged@10')).toBe('Judged@10');
    expect(measureLabel('ndcg_cut_10_J')).toBe('nDCG@10 -J');
    expect(measureLabel('map_J')).toBe('MAP -J');
    expect(orderMeasures(['map_J', 'ndcg_cut_10', 'Judged@10', 'ndcg_cut_10_J', 'map', 'recip_rank'])).toEqual([
      'recip_rank',
      'ndcg_cut_10',
      'map',
      'map_J',
      'Judged@10',
      'ndcg_cut_10_J',
    ]);
  });

  it('leaves count measures out of the table', () => {
    expect(orderMeasures(['num_q', 'map', 'num_rel_ret'])).toEqual(['map']);
  });

  it('orders measures MRR, nDCG, Recall by depth, MAP, rest', () => {
    expect(orderMeasures(['map', 'recall.1000', 'P.10', 'ndcg_cut.10', 'recall.100', 'recip_rank'])).toEqual([
      'recip_rank',
      'ndcg_cut.10',
      'recall.100',
      'recall.1000',
      'map',
      'P.10',
    ]);
  });
});

describe('defaults and helpers', () => {
  it('picks nDCG@10 and the TAS-B system by default', () => {
    expect(defaultDeltaMeasure(['map', 'ndcg_cut.10', 'ndcg'])).toBe('ndcg_cut.10');
    expect(defaultDeltaMeasure(['map', 'ndcg'])).toBe('ndcg');
    expect(defaultDeltaMeasure(['map', 'ndcg_cut_10'])).toBe('ndcg_cut_10');
    const report = {
      baseline: 'bm25',
      systems: { bm25: system({}), rrf: system({}), tasb: system({}) },
    } as unknown as MetricsReport;
    expect(defaultComparedSystem(report)).toBe('tasb');
  });

  it('compares numeric ids by value', () => {
    expect(['10', '2', '1', 'a'].sort(compareIds)).toEqual(['1', '2', '10', 'a']);
  });

  it('paginates with clamping', () => {
    const items = Array.from({ length: 53 }, (_, i) => i);
    expect(paginate(items, 0, 25)).toEqual({ items: items.slice(0, 25), page: 0, pages: 3 });
    expect(paginate(items, 9, 25)).toEqual({ items: [50, 51, 52], page: 2, pages: 3 });
    expect(paginate([], 0, 25)).toEqual({ items: [], page: 0, pages: 1 });
  });

  it('keeps a bounded time series', () => {
    expect(pushBounded([1, 2, 3], 4, 3)).toEqual([2, 3, 4]);
    expect(pushBounded([1], 2, 3)).toEqual([1, 2]);
  });
});
