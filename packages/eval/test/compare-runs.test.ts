import { describe, expect, it } from 'vitest';
import { mulberry32 } from '@dotrank/core';
import type { Qrels } from '@dotrank/datasets';
import { compareRuns, pairwiseRandomizationTest } from '../src/compare-runs.js';
import { formatComparison, systemLetter } from '../src/comparison-format.js';
import { presetMeasures, resolveMeasures } from '../src/presets.js';
import { buildMetricsReport } from '../src/report.js';
import { correctPValues, pairedTTest, randomizationTest } from '../src/significance.js';

describe('pairwiseRandomizationTest', () => {
  it('gives, for every pair, the p-value randomizationTest gives for that pair (same seed, same signs)', () => {
    const random = mulberry32(7);
    const n = 203; // not a multiple of 8 or 32: the last group is partial
    const base = Array.from({ length: n }, () => random());
    const systems = [
      base,
      base.map((x) => x + (random() - 0.45) * 0.2),
      base.map((x) => x + (random() - 0.5) * 0.2),
      base.map((x) => Math.min(1, x * 1.1)),
    ];
    const p = pairwiseRandomizationTest(systems, { trials: 2000, seed: 3 });
    for (let i = 0; i < systems.length; i++) {
      expect(p[i]![i]).toBe(1);
      for (let j = 0; j < systems.length; j++) {
        if (i === j) continue;
        expect(p[i]![j]).toBe(randomizationTest(systems[i]!, systems[j]!, { trials: 2000, seed: 3 }).pValue);
      }
    }
    expect(p[0]![1]).toBeLessThan(0.01); // a clear shift is found
  });
  it('counts exact ties as at least as extreme (identical systems: p = 1)', () => {
    const a = [0.5, 0.25, 1, 0];
    expect(pairwiseRandomizationTest([a, [...a]], { trials: 100 })[0]![1]).toBe(1);
  });
});

const qrelsOf = (o: Record<string, Record<string, number>>): Qrels =>
  new Map(Object.entries(o).map(([q, docs]) => [q, new Map(Object.entries(docs))]));

// 30 queries, one relevant doc "r" each. good: r first everywhere; mid: r first on even queries, second on odd;
// bad: r third, and no results at all for q29 (scored 0 there, all runs are evaluated on the same queries).
const qids = Array.from({ length: 30 }, (_, i) => `q${i}`);
const qrels = qrelsOf(Object.fromEntries(qids.map((q) => [q, { r: 1, n: 0 }])));
const runFrom = (rankOf: (i: number) => number, skip?: string) =>
  new Map(
    qids
      .filter((q) => q !== skip)
      .map((q, i) => {
        const docs = ['x', 'y', 'z'];
        docs.splice(rankOf(i) - 1, 0, 'r');
        return [q, docs.map((docId, k) => ({ docId, score: 10 - k }))] as const;
      }),
  );
const runs = [
  { name: 'bad', run: runFrom(() => 3, 'q29') },
  { name: 'mid', run: runFrom((i) => (i % 2 === 0 ? 1 : 2)) },
  { name: 'good', run: runFrom(() => 1) },
];

describe('compareRuns', () => {
  const c = compareRuns(qrels, runs, { measures: ['RR@10', 'P@1', 'NumRet'], baseline: 'bad', trials: 1000 });
  it('evaluates every run on the same queries, a run without results for one scoring 0 there', () => {
    expect(c.queries).toHaveLength(30);
    expect(c.cells['bad']!['RR@10']!.mean).toBeCloseTo((29 * (1 / 3)) / 30, 12);
    expect(c.cells['mid']!['RR@10']!.mean).toBeCloseTo((15 + 15 * 0.5) / 30, 12);
    expect(c.cells['good']!['P@1']!.mean).toBe(1);
  });
  it('marks significance against the baseline and lists the systems each one beats', () => {
    expect(c.cells['good']!['RR@10']).toMatchObject({ significant: true, beats: ['bad', 'mid'] });
    expect(c.cells['mid']!['RR@10']).toMatchObject({ significant: true, beats: ['bad'] });
    expect(c.cells['bad']!['RR@10']).toMatchObject({ significant: false, beats: [] });
    expect(c.cells['bad']!['RR@10']!.pValue).toBeUndefined();
    // counts are not tested
    expect(c.cells['good']!['NumRet']).toEqual({ mean: 120, significant: false, beats: [] });
  });
  it('corrects the baseline p-values as a family of (systems - 1) tests', () => {
    const t = compareRuns(qrels, runs, { measures: ['P@1'], baseline: 'bad', test: 't', correction: 'bonferroni' });
    const perQuery = (name: string) => qids.map((q) => t.results.get(name)!.perQuery.get(q)!['P@1']!);
    const raw = [
      pairedTTest(perQuery('mid'), perQuery('bad')).pValue,
      pairedTTest(perQuery('good'), perQuery('bad')).pValue,
    ];
    const corrected = correctPValues(raw, 'bonferroni');
    expect(t.cells['mid']!['P@1']!.pValue).toBe(corrected[0]);
    expect(t.significance['mid']!['P@1']!.pValueTTest).toBe(corrected[0]);
    expect(t.significance['mid']!['P@1']).toMatchObject({ wins: 15, ties: 15, losses: 0 });
  });
  it('names bad input', () => {
    expect(() => compareRuns(qrels, runs, { measures: ['P@1'], baseline: 'nope' })).toThrow(
      /no run named "nope" \(runs: bad, mid, good\)/,
    );
    expect(() => compareRuns(qrels, [runs[0]!, runs[0]!], { measures: ['P@1'] })).toThrow(/two runs are named "bad"/);
  });

  it('prints a text table, Markdown and LaTeX with markers and superscripts', () => {
    const table = formatComparison(c, 'table');
    expect(table.split('\n')[0]).toMatch(/^ {3}system +RR@10 +P@1 +NumRet$/);
    expect(table).toMatch(/c {2}good\s+1\.0000†ᵃᵇ\s+1\.0000†ᵃᵇ\s+120/);
    expect(table).toMatch(/Holm-corrected, p < 0\.05; 30 queries/);
    const md = formatComparison(c, 'markdown');
    expect(md).toContain('| | system | RR@10 | P@1 | NumRet |');
    expect(md).toContain('| c | good | **1.0000**†<sup>ab</sup> | **1.0000**†<sup>ab</sup> | **120** |');
    const latex = formatComparison(c, 'latex');
    expect(latex).toContain('(c) & good & \\textbf{1.0000}$^\\dagger$\\textsuperscript{ab}');
    expect(latex).toMatch(/^\\begin\{tabular\}\{llrrr\}/);
    const json = JSON.parse(formatComparison(c, 'json')) as { systems: Record<string, { letter: string }> };
    expect(json.systems['mid']!.letter).toBe('b');
  });
  it('builds the metrics.json the dashboard reads, with the comparison significance', () => {
    const report = buildMetricsReport({
      collection: { name: 'toy', queries: 30, documents: 0 },
      model: null,
      depth: 4,
      level: 1,
      baseline: 'bad',
      measures: c.measures,
      systems: c.results,
      significanceBySystem: c.significance,
      significance: { trials: 1000, correction: 'holm' },
    });
    expect(report.systems['good']!.significance!['RR@10']!.pValueRandomization).toBe(
      c.significance['good']!['RR@10']!.pValueRandomization,
    );
    expect(report.systems['bad']!.significance).toBeUndefined();
    expect(Object.keys(report.systems['mid']!.perQuery)).toHaveLength(30);
  });
});

describe('presets and letters', () => {
  it('gives the model card protocol', () => {
    expect(presetMeasures('trec-dl')).toEqual(['nDCG@10', 'AP(rel=2)', 'R(rel=2)@1000']);
    expect(resolveMeasures({ preset: 'msmarco-dev', measures: ['P@10'] })).toEqual(['MRR@10', 'R@1000', 'P@10']);
    expect(resolveMeasures({})).toBeUndefined();
    expect(() => presetMeasures('msmarco')).toThrow(/unknown preset "msmarco" \(presets: msmarco-dev, trec-dl, beir\)/);
  });
  it('names systems a..z, then aa', () => {
    expect([0, 1, 25, 26, 27].map(systemLetter)).toEqual(['a', 'b', 'z', 'aa', 'ab']);
  });
});
