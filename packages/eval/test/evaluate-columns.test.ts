import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { repoPath } from '@dotrank/core/testing';
import { RunColumns, readQrels, readRun, readRunColumns } from '@dotrank/datasets';
import { evaluate } from '../src/evaluate.js';
import type { EvalResult, EvaluateOptions } from '../src/evaluate.js';

// A run in columns (readRunColumns, what `dotrank measure` reads) must evaluate to the very doubles the Map-shaped run
// gives, the one trec_eval parity is tested on: the bundled Cranfield runs (`ties` has float32 ties broken by doc id
// and is not in trec_eval order), under every flag of trec_eval that changes what is measured.
const fixtures = fileURLToPath(new URL('./fixtures/trec_eval/', import.meta.url));

const MEASURES = [
  'num_q',
  'num_ret',
  'num_rel',
  'num_rel_ret',
  'map',
  'Rprec',
  'bpref',
  'recip_rank',
  'ndcg',
  'P.5,10,30',
  'recall.5,100',
  'ndcg_cut.10,20',
  'map_cut.100',
  'success.1,10',
  'RR@10',
  'Judged@10',
  'AP(rel=2)',
];

const CONFIGS: Record<string, { options: EvaluateOptions; qrels: 'cranfield' | 'neg' }> = {
  default: { options: {}, qrels: 'cranfield' },
  '-c': { options: { allQueries: true }, qrels: 'cranfield' },
  '-J': { options: { judgedOnly: true }, qrels: 'cranfield' },
  '-l 2': { options: { level: 2 }, qrels: 'cranfield' },
  '-M 20': { options: { maxResults: 20 }, qrels: 'cranfield' },
  '-c -J -l 2 -M 20': { options: { allQueries: true, judgedOnly: true, level: 2, maxResults: 20 }, qrels: 'cranfield' },
  'negative grades': { options: {}, qrels: 'neg' },
  'negative grades, -J': { options: { judgedOnly: true }, qrels: 'neg' },
  'chosen queries': { options: { queries: ['1', '2', '3', '4', '5', '365'] }, qrels: 'cranfield' },
};

/** Every value that is not the same double (Object.is: -0 and NaN count too), as `query measure: a vs b`. */
function differences(a: EvalResult, b: EvalResult): string[] {
  const out: string[] = [];
  const compare = (where: string, x: Record<string, number>, y: Record<string, number> | undefined) => {
    for (const m of a.measures) if (!Object.is(x[m], y?.[m])) out.push(`${where} ${m}: ${x[m]} vs ${y?.[m]}`);
  };
  for (const [qid, values] of a.perQuery) compare(qid, values, b.perQuery.get(qid));
  compare('all', a.aggregate, b.aggregate);
  return out;
}

describe('evaluate: a run in columns gives the results of the same run as a Map', async () => {
  const qrelsBy = {
    cranfield: await readQrels(repoPath('datasets/cranfield/qrels/test.trec')),
    neg: await readQrels(`${fixtures}qrels-neg.trec`),
  };
  for (const name of ['bm25', 'ties']) {
    const run = await readRun(`${fixtures}${name}.run`);
    const columns = await readRunColumns(`${fixtures}${name}.run`);
    for (const [config, { options, qrels }] of Object.entries(CONFIGS)) {
      it(`${name}, ${config}: the same doubles for every query and the average`, () => {
        const expected = evaluate(qrelsBy[qrels], run, { ...options, measures: MEASURES });
        const actual = evaluate(qrelsBy[qrels], columns, { ...options, measures: MEASURES });
        expect(actual.measures).toEqual(expected.measures);
        expect([...actual.perQuery.keys()]).toEqual([...expected.perQuery.keys()]);
        expect(actual.numQueries).toBe(expected.numQueries);
        expect(actual.missing).toEqual(expected.missing);
        expect(differences(expected, actual)).toEqual([]);
        // RunColumns.fromRun (columns made in memory) gives them too
        expect(
          differences(expected, evaluate(qrelsBy[qrels], RunColumns.fromRun(run), { ...options, measures: MEASURES })),
        ).toEqual([]);
      });
    }
  }

  it('the ties run is out of trec_eval order, so the columns are re-sorted as the Map is', () => {
    const ties = new Map([
      [
        '1',
        [
          { docId: '13', score: 1 },
          { docId: '184', score: 1 + 2 ** -30 }, // equal to 1 in float32: the doc ids decide (strcmp: "184" > "13")
          { docId: '29', score: 2 },
        ],
      ],
    ]);
    const expected = evaluate(qrelsBy.cranfield, ties, { measures: MEASURES });
    expect(
      differences(expected, evaluate(qrelsBy.cranfield, RunColumns.fromRun(ties), { measures: MEASURES })),
    ).toEqual([]);
    expect(expected.perQuery.get('1')!['recip_rank']).toBeGreaterThan(0);
  });
});
