import { describe, expect, it } from 'vitest';
import { ValidationError } from '@dotrank/core';
import type { EvalResult } from '../src/evaluate.js';
import { buildMetricsReport, metricsReportSchema } from '../src/report.js';
import { compareSystems } from '../src/compare.js';
import { correctPValues, pairedTTest, randomizationTest, studentTTwoSidedP, winTieLoss } from '../src/significance.js';

describe('Student t p-values (incomplete beta) against closed forms', () => {
  it('df = 1 (Cauchy): p = 1 - (2/pi) atan|t|', () => {
    for (const t of [0.1, 1, 3.5, 12.706])
      expect(studentTTwoSidedP(t, 1)).toBeCloseTo(1 - (2 / Math.PI) * Math.atan(t), 12);
  });
  it('df = 2: p = 1 - |t| / sqrt(2 + t^2)', () => {
    for (const t of [0.5, 2, 4.303]) expect(studentTTwoSidedP(t, 2)).toBeCloseTo(1 - t / Math.sqrt(2 + t * t), 12);
  });
  it('df = 3: p = 1 - (2/pi)(x/(1+x^2) + atan x), x = t/sqrt(3)', () => {
    for (const t of [0.7, 3.8729833]) {
      const x = t / Math.sqrt(3);
      expect(studentTTwoSidedP(t, 3)).toBeCloseTo(1 - (2 / Math.PI) * (x / (1 + x * x) + Math.atan(x)), 12);
    }
  });
  it('textbook critical values: t(0.975, 10) = 2.228139, t(0.995, 30) = 2.749996', () => {
    expect(studentTTwoSidedP(2.228138852, 10)).toBeCloseTo(0.05, 8);
    expect(studentTTwoSidedP(2.749995654, 30)).toBeCloseTo(0.01, 8);
  });
});

describe('pairedTTest', () => {
  it('computes t, df and p by hand', () => {
    // d = [1, 2, 3, 4]: mean 2.5, sample variance 5/3, se = sqrt(5/12), t = 2.5 / 0.6454972 = 3.8729833 (= sqrt(15))
    const r = pairedTTest([1, 2, 3, 4], [0, 0, 0, 0]);
    expect(r.t).toBeCloseTo(Math.sqrt(15), 12);
    expect(r.df).toBe(3);
    const x = Math.sqrt(5); // t / sqrt(3)
    expect(r.pValue).toBeCloseTo(1 - (2 / Math.PI) * (x / 6 + Math.atan(x)), 12); // 1 - 0.63662 * (0.372678 + 1.150262) = 0.030466
    expect(r.pValue).toBeCloseTo(0.030466, 6);
    expect(pairedTTest([0, 0, 0, 0], [1, 2, 3, 4]).t).toBeCloseTo(-Math.sqrt(15), 12);
  });
  it('degenerate samples', () => {
    expect(pairedTTest([1, 2], [1, 2])).toEqual({ t: 0, df: 1, pValue: 1 });
    expect(pairedTTest([2, 3], [1, 2])).toEqual({ t: Number.POSITIVE_INFINITY, df: 1, pValue: 0 });
    expect(pairedTTest([1], [0]).pValue).toBe(1);
    expect(() => pairedTTest([1, 2], [1])).toThrow(ValidationError);
  });
});

describe('randomizationTest', () => {
  it('is deterministic for a seed', () => {
    const a = [0.3, 0.5, 0.2, 0.9, 0.4, 0.6];
    const b = [0.2, 0.5, 0.3, 0.5, 0.1, 0.6];
    expect(randomizationTest(a, b, { seed: 7 })).toEqual(randomizationTest(a, b, { seed: 7 }));
    expect(randomizationTest(a, b).pValue).toBe(randomizationTest(a, b, { trials: 10_000, seed: 42 }).pValue);
  });
  it('gives p = 1 for identical systems', () => {
    expect(randomizationTest([0.1, 0.2, 0.3], [0.1, 0.2, 0.3], { trials: 500 }).pValue).toBe(1);
  });
  it('approaches the exact permutation p-value', () => {
    // 10 differences of +1: only the all-plus and all-minus sign patterns reach |sum| = 10 -> exact p = 2/1024.
    const p = randomizationTest(Array(10).fill(1), Array(10).fill(0), { trials: 20_000 }).pValue;
    expect(Math.abs(p - 2 / 1024)).toBeLessThan(0.0015);
    // d = [1, -1]: every sign pattern has |sum| in {0, 2}; |sum| >= |0| always -> p = 1
    expect(randomizationTest([1, 0], [0, 1], { trials: 100 }).pValue).toBe(1);
  });
});

describe('winTieLoss and corrections', () => {
  it('counts with a tolerance', () => {
    expect(winTieLoss([0.5, 0.2, 0.3, 0.1 + 1e-12], [0.4, 0.2, 0.6, 0.1])).toEqual({ wins: 1, ties: 2, losses: 1 });
  });
  it('Bonferroni and Holm by hand', () => {
    const ps = [0.01, 0.04, 0.03, 0.005];
    expect(correctPValues(ps, 'bonferroni').map((p) => +p.toFixed(10))).toEqual([0.04, 0.16, 0.12, 0.02]);
    // Holm: sorted 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max 0.06
    expect(correctPValues(ps, 'holm').map((p) => +p.toFixed(10))).toEqual([0.03, 0.06, 0.06, 0.02]);
    expect(correctPValues(ps, 'none')).toEqual(ps);
    expect(correctPValues([0.6, 0.7], 'bonferroni')).toEqual([1, 1]);
  });
});

const result = (perQuery: Record<string, Record<string, number>>): EvalResult => {
  const measures = Object.keys(Object.values(perQuery)[0]!);
  const qids = Object.keys(perQuery);
  const aggregate = Object.fromEntries(
    measures.map((m) => [m, qids.reduce((s, q) => s + perQuery[q]![m]!, 0) / qids.length]),
  );
  return { measures, perQuery: new Map(Object.entries(perQuery)), aggregate, numQueries: qids.length };
};

describe('compareSystems and buildMetricsReport', () => {
  const bm25 = result({ q1: { map: 0.2, num_rel: 3 }, q2: { map: 0.4, num_rel: 1 }, q3: { map: 0.6, num_rel: 2 } });
  const tasb = result({ q1: { map: 0.5, num_rel: 3 }, q2: { map: 0.4, num_rel: 1 }, q3: { map: 0.3, num_rel: 2 } });

  it('pairs queries, computes the delta and w/t/l', () => {
    const [c] = compareSystems({ bm25: bm25.perQuery, tasb: tasb.perQuery }, 'bm25', 'map');
    // means: tasb (0.5+0.4+0.3)/3 = 0.4, bm25 (0.2+0.4+0.6)/3 = 0.4 -> delta 0; q1 win, q2 tie, q3 loss
    expect(c).toMatchObject({ system: 'tasb', measure: 'map', queries: 3, wins: 1, ties: 1, losses: 1 });
    expect(c!.delta).toBeCloseTo(0, 12);
    expect(c!.pValueTTest).toBeCloseTo(1, 12); // d = [0.3, 0, -0.3]: mean 0 -> t = 0 -> p = 1
    expect(() => compareSystems({ tasb: tasb.perQuery }, 'bm25', 'map')).toThrow(/baseline: system "bm25" not found/);
  });

  it('builds a schema-valid metrics.json structure; the baseline has no significance', () => {
    const report = buildMetricsReport({
      collection: { name: 'cranfield', queries: 225, documents: 1400 },
      model: { id: 'sebastian-hofstaetter/distilbert-dot-tas_b-b256-msmarco', revision: 'abc' },
      depth: 100,
      level: 1,
      systems: { bm25, tasb },
      firstStageRecall: { bm25: { depths: [10, 100], recall: [0.4, 0.7] } },
      createdAt: new Date('2026-11-24T00:00:00Z'),
      significance: { trials: 1000 },
    });
    expect(metricsReportSchema.parse(JSON.parse(JSON.stringify(report)))).toEqual(report);
    expect(report).toMatchObject({
      version: 1,
      baseline: 'bm25',
      measures: ['map', 'num_rel'],
      createdAt: '2026-11-24T00:00:00.000Z',
    });
    expect(report.systems['bm25']!.significance).toBeUndefined();
    expect(Object.keys(report.systems['tasb']!.significance!)).toEqual(['map']); // counts are not tested
    expect(report.systems['tasb']!.perQuery['q1']).toEqual({ map: 0.5, num_rel: 3 });
    expect(report.significanceTest).toEqual({ trials: 1000, seed: 42, correction: 'none' });
  });
});
