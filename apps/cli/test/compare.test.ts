import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoPath } from '@dotrank/core/testing';
import { metricsReportSchema } from '@dotrank/eval';
import { dotrank, SPAWN_TIMEOUT } from './cli.js';

// The trec_eval reference runs of the bundled Cranfield collection: dotrank's BM25, and a degraded copy of it
// (rounded scores, every 9th query missing, shallower rankings), which must lose on every measure.
const fixtures = repoPath('packages/eval/test/fixtures/trec_eval');
const qrels = repoPath('datasets/cranfield/qrels/test.trec');
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dotrank-compare-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('dotrank compare', () => {
  it(
    'prints Markdown and LaTeX tables with corrected significance and writes the metrics.json the dashboard reads',
    async () => {
      const bm25 = join(fixtures, 'bm25.run');
      const ties = `degraded=${join(fixtures, 'ties.run')}`;
      const out = join(dir, 'cmp', 'metrics.json');
      const [md, latex] = await Promise.all([
        dotrank([
          'compare',
          qrels,
          bm25,
          ties,
          '--format',
          'markdown',
          '-m',
          'nDCG@10,map',
          '--out',
          out,
          '--trials',
          '2000',
        ]),
        dotrank([
          'compare',
          qrels,
          ties,
          bm25,
          '--format',
          'latex',
          '--preset',
          'beir',
          '--correction',
          'bonferroni',
          '--test',
          't',
        ]),
      ]);
      expect(md.code).toBe(0);
      expect(md.stdout.split('\n').slice(0, 4)).toEqual([
        '| | system | nDCG@10 | map |',
        '|---|---|---:|---:|',
        '| a | bm25 | **0.3341**<sup>b</sup> | **0.2616**<sup>b</sup> |',
        '| b | degraded | 0.3011† | 0.2231† |',
      ]);
      expect(md.stdout).toContain('paired randomization test, 2,000 trials, Holm-corrected, p < 0.05; 225 queries');
      const report = metricsReportSchema.parse(JSON.parse(await readFile(out, 'utf8')));
      expect(report.baseline).toBe('bm25');
      expect(report.measures).toEqual(['nDCG@10', 'map']);
      expect(report.systems['bm25']!.aggregate['map']).toBeCloseTo(0.2616, 4);
      expect(Object.keys(report.systems['degraded']!.perQuery)).toHaveLength(225);
      expect(report.systems['degraded']!.significance!['map']!.pValueRandomization).toBeLessThan(0.05);
      expect(report.significanceTest).toEqual({ trials: 2000, seed: 42, correction: 'holm' });

      expect(latex.code).toBe(0);
      expect(latex.stdout).toContain(' & System & nDCG@10 & R@100 \\\\');
      // degraded is the baseline now: bm25 differs from it and beats it (a)
      expect(latex.stdout).toContain(
        '(b) & bm25 & \\textbf{0.3341}$^\\dagger$\\textsuperscript{a} & \\textbf{0.6970}$^\\dagger$\\textsuperscript{a} \\\\',
      );
      expect(latex.stdout).toContain('paired t-test, Bonferroni-corrected');
    },
    SPAWN_TIMEOUT,
  );

  it(
    'names bad input: an unknown baseline or measure, exit code 2',
    async () => {
      const bm25 = join(fixtures, 'bm25.run');
      const [baseline, measure] = await Promise.all([
        dotrank(['compare', qrels, bm25, '--baseline', 'tasb']),
        dotrank(['compare', qrels, bm25, '-m', 'nDCG@ten']),
      ]);
      expect(baseline.code).toBe(2);
      expect(baseline.stderr.trim()).toBe('dotrank: --baseline: no run named "tasb" (runs: bm25)');
      expect(measure.code).toBe(2);
      expect(measure.stderr).toMatch(/unknown measure "nDCG@ten"; valid forms: .*ir_measures names: AP, AP@k, nDCG/);
    },
    SPAWN_TIMEOUT,
  );
});
