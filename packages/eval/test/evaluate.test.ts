import { describe, expect, it } from 'vitest';
import { ValidationError } from '@dotrank/core';
import type { Qrels } from '@dotrank/datasets';
import { evaluate } from '../src/evaluate.js';
import { formatFixed4, formatLine, formatTrecEval } from '../src/format.js';
import { measureLabel, parseMeasures } from '../src/measures.js';

const qrelsOf = (o: Record<string, Record<string, number>>): Qrels =>
  new Map(Object.entries(o).map(([q, docs]) => [q, new Map(Object.entries(docs))]));
const runOf = (o: Record<string, [string, number][]>) =>
  new Map(Object.entries(o).map(([q, list]) => [q, list.map(([docId, score]) => ({ docId, score }))]));

const LOG2_3 = Math.log2(3); // 1.5849625

// q1: relevant d1, d3, d5; d9 judged non-relevant. Retrieved d1 d2 d3 d4 d9 -> grades [1, -, 1, -, 0].
const q1Qrels = { d1: 1, d3: 1, d5: 1, d9: 0 };
const q1Run: [string, number][] = [
  ['d1', 3],
  ['d2', 2.5],
  ['d3', 2],
  ['d4', 1.5],
  ['d9', 1],
];

describe('evaluate: one query, binary grades', () => {
  const r = evaluate(qrelsOf({ q1: q1Qrels }), runOf({ q1: q1Run }), {
    measures: [
      'map',
      'recip_rank',
      'P.5,10',
      'recall.1,5',
      'Rprec',
      'ndcg_cut.5',
      'ndcg',
      'num_q',
      'num_ret',
      'num_rel',
      'num_rel_ret',
    ],
  });
  const v = r.perQuery.get('q1')!;

  it('AP divides by all relevant docs, also the unretrieved d5', () => {
    // relevant at ranks 1 and 3: (1/1 + 2/3) / 3 = 5/9
    expect(v['map']).toBeCloseTo(5 / 9, 12);
  });
  it('P@k divides by k even when fewer docs were retrieved', () => {
    expect(v['P_5']).toBeCloseTo(2 / 5, 12); // 2 relevant in 5
    expect(v['P_10']).toBeCloseTo(2 / 10, 12); // only 5 retrieved, still / 10
  });
  it('recall, R-precision, reciprocal rank', () => {
    expect(v['recall_1']).toBeCloseTo(1 / 3, 12);
    expect(v['recall_5']).toBeCloseTo(2 / 3, 12);
    expect(v['Rprec']).toBeCloseTo(2 / 3, 12); // R = 3: d1, d3 in the top 3
    expect(v['recip_rank']).toBe(1);
  });
  it('nDCG uses log2(rank + 1) discounts over the ideal of all judged grades', () => {
    // DCG = 1/log2(2) + 1/log2(4) = 1.5; IDCG = 1 + 1/log2(3) + 1/log2(4) = 2.1309298
    const expected = 1.5 / (1 + 1 / LOG2_3 + 0.5);
    expect(v['ndcg_cut_5']).toBeCloseTo(expected, 12);
    expect(v['ndcg']).toBeCloseTo(expected, 12);
    expect(expected).toBeCloseTo(0.7039, 4);
  });
  it('counts', () => {
    expect(r.aggregate).toMatchObject({ num_q: 1, num_ret: 5, num_rel: 3, num_rel_ret: 2 });
    expect(r.measures).toEqual([
      'map',
      'recip_rank',
      'P_5',
      'P_10',
      'recall_1',
      'recall_5',
      'Rprec',
      'ndcg_cut_5',
      'ndcg',
      'num_q',
      'num_ret',
      'num_rel',
      'num_rel_ret',
    ]);
  });
});

describe('evaluate: trec_eval ordering quirks', () => {
  it('re-sorts by score, breaking ties by docid in descending strcmp order (rank column ignored)', () => {
    // c (2) first; a and b tie at 1: strcmp("b","a") > 0 so b before a -> the relevant a is at rank 3.
    const r = evaluate(
      qrelsOf({ q2: { a: 1 } }),
      runOf({
        q2: [
          ['a', 1],
          ['b', 1],
          ['c', 2],
        ],
      }),
      { measures: ['recip_rank', 'RR@2', 'P.1'] },
    );
    expect(r.perQuery.get('q2')).toEqual({ recip_rank: 1 / 3, 'RR@2': 0, P_1: 0 });
  });

  it('compares scores as float32 like trec_eval (float sim): near-equal doubles tie', () => {
    // x = 1 + 2^-30 is above y = 1 as a double, but both are 1.0f; the tie goes to docid "y" > "x".
    const r = evaluate(
      qrelsOf({ q: { x: 1 } }),
      runOf({
        q: [
          ['x', 1 + 2 ** -30],
          ['y', 1],
        ],
      }),
      { measures: ['recip_rank'] },
    );
    expect(r.perQuery.get('q')!['recip_rank']).toBe(0.5);
  });

  it('refuses a docid twice in one query', () => {
    expect(() =>
      evaluate(
        qrelsOf({ q: { x: 1 } }),
        runOf({
          q: [
            ['x', 2],
            ['x', 1],
          ],
        }),
      ),
    ).toThrow(ValidationError);
    expect(() =>
      evaluate(
        qrelsOf({ q: { x: 1 } }),
        runOf({
          q: [
            ['x', 2],
            ['x', 1],
          ],
        }),
      ),
    ).toThrow(/duplicate document x for query q/);
  });

  it('-M: only the first maxResults after re-sorting count', () => {
    const r = evaluate(qrelsOf({ q1: q1Qrels }), runOf({ q1: q1Run }), { measures: ['map', 'num_ret'], maxResults: 2 });
    // only d1 (relevant) and d2 remain: AP = (1/1) / 3
    expect(r.perQuery.get('q1')).toEqual({ map: 1 / 3, num_ret: 2 });
  });
});

describe('evaluate: graded judgments and the relevance level', () => {
  // grades: a 3, b 2, c 1, d 0, e -1 (negative = in the pool but unjudged, never relevant, no gain)
  const qrels = qrelsOf({ q4: { a: 3, b: 2, c: 1, d: 0, e: -1 } });
  const run = runOf({
    q4: [
      ['c', 4],
      ['b', 3],
      ['e', 2],
      ['a', 1],
    ],
  }); // grades by rank: 1, 2, -, 3
  const measures = ['map', 'recip_rank', 'ndcg_cut.3', 'ndcg', 'num_rel', 'num_rel_ret', 'P.2'];

  it('level 1: grades >= 1 are relevant', () => {
    const v = evaluate(qrels, run, { measures }).perQuery.get('q4')!;
    expect(v['map']).toBeCloseTo((1 / 1 + 2 / 2 + 3 / 4) / 3, 12); // 0.916667
    expect(v['recip_rank']).toBe(1);
    expect(v['num_rel']).toBe(3);
    expect(v['num_rel_ret']).toBe(3);
    expect(v['P_2']).toBe(1);
  });

  it('level 2 (TREC DL): binary measures need grade >= 2, nDCG keeps raw graded gains', () => {
    const l1 = evaluate(qrels, run, { measures }).perQuery.get('q4')!;
    const v = evaluate(qrels, run, { measures, level: 2 }).perQuery.get('q4')!;
    expect(v['map']).toBeCloseTo((1 / 2 + 2 / 4) / 2, 12); // b at 2, a at 4, R = 2 -> 0.5
    expect(v['recip_rank']).toBe(0.5);
    expect(v['num_rel']).toBe(2);
    expect(v['num_rel_ret']).toBe(2);
    expect(v['P_2']).toBe(0.5);
    // nDCG@3: DCG = 1/1 + 2/log2(3) + 0 = 2.2618595; IDCG = 3/1 + 2/log2(3) + 1/log2(4) = 4.7618595
    const ndcg3 = (1 + 2 / LOG2_3) / (3 + 2 / LOG2_3 + 0.5);
    expect(v['ndcg_cut_3']).toBeCloseTo(ndcg3, 12);
    expect(ndcg3).toBeCloseTo(0.475, 3);
    // full nDCG adds a (grade 3) at rank 4: + 3/log2(5) = 1.2920297 -> 3.5538892 / 4.7618595
    expect(v['ndcg']).toBeCloseTo((1 + 2 / LOG2_3 + 3 / Math.log2(5)) / (3 + 2 / LOG2_3 + 0.5), 12);
    expect(v['ndcg']).toBe(l1['ndcg']);
    expect(v['ndcg_cut_3']).toBe(l1['ndcg_cut_3']);
  });

  it('level 0 makes judged non-relevant documents relevant, never unjudged ones', () => {
    const v = evaluate(qrels, run, { measures: ['num_rel', 'num_rel_ret'], level: 0 }).perQuery.get('q4')!;
    expect(v).toEqual({ num_rel: 4, num_rel_ret: 3 }); // a b c d judged >= 0; e (-1) is not counted
  });

  it('rejects a negative or fractional level', () => {
    expect(() => evaluate(qrels, run, { level: -1 })).toThrow(/level: must be a non-negative integer/);
    expect(() => evaluate(qrels, run, { level: 1.5 })).toThrow(ValidationError);
  });
});

describe('evaluate: which queries count', () => {
  const qrels = qrelsOf({
    q1: q1Qrels,
    q2: { a: 1 },
    q5: { z: 0 }, // judged, but nothing relevant
    q6: { m1: 1, m2: 2 }, // not in the run
  });
  const run = runOf({
    q1: q1Run,
    q2: [
      ['a', 1],
      ['b', 1],
      ['c', 2],
    ],
    q5: [
      ['z', 2],
      ['w', 1],
    ],
    q7: [['x', 1]], // not in the qrels: ignored
  });
  const measures = ['map', 'recip_rank', 'num_q', 'num_ret', 'num_rel', 'num_rel_ret'];

  it('default: queries in both; a query without relevant docs stays in the average with 0', () => {
    const r = evaluate(qrels, run, { measures });
    expect([...r.perQuery.keys()]).toEqual(['q1', 'q2', 'q5']);
    expect(r.numQueries).toBe(3);
    expect(r.perQuery.get('q5')).toEqual({ map: 0, recip_rank: 0, num_q: 1, num_ret: 2, num_rel: 0, num_rel_ret: 0 });
    // map: (5/9 + 1/3 + 0) / 3 = 8/27; recip_rank: (1 + 1/3 + 0) / 3 = 4/9
    expect(r.aggregate['map']).toBeCloseTo(8 / 27, 12);
    expect(r.aggregate['recip_rank']).toBeCloseTo(4 / 9, 12);
    // counts are sums: retrieved 5 + 3 + 2, relevant 3 + 1 + 0, relevant retrieved 2 + 1 + 0
    expect(r.aggregate).toMatchObject({ num_q: 3, num_ret: 10, num_rel: 4, num_rel_ret: 3 });
  });

  it('allQueries (-c): every qrels query; missing ones score 0 but their relevant docs count in num_rel', () => {
    const r = evaluate(qrels, run, { measures, allQueries: true });
    expect([...r.perQuery.keys()]).toEqual(['q1', 'q2', 'q5', 'q6']);
    expect(r.perQuery.get('q6')).toEqual({ map: 0, recip_rank: 0, num_q: 1, num_ret: 0, num_rel: 2, num_rel_ret: 0 });
    expect(r.aggregate['map']).toBeCloseTo(8 / 9 / 4, 12); // 2/9
    expect(r.aggregate).toMatchObject({ num_q: 4, num_ret: 10, num_rel: 6, num_rel_ret: 3 });
  });

  it('no overlap at all is an error, as in trec_eval', () => {
    expect(() => evaluate(qrels, runOf({ q7: [['x', 1]] }))).toThrow(
      /no queries with both results and relevance judgments/,
    );
  });
});

describe('parseMeasures', () => {
  it('accepts trec_eval names with cutoff lists', () => {
    expect(parseMeasures('ndcg_cut.5,10,20,recip_rank,P.10')).toEqual([
      'ndcg_cut_5',
      'ndcg_cut_10',
      'ndcg_cut_20',
      'recip_rank',
      'P_10',
    ]);
    expect(parseMeasures('map recall.100,1000 Rprec num_q num_ret num_rel num_rel_ret ndcg')).toEqual([
      'map',
      'recall_100',
      'recall_1000',
      'Rprec',
      'num_q',
      'num_ret',
      'num_rel',
      'num_rel_ret',
      'ndcg',
    ]);
    expect(parseMeasures('P')).toEqual(['P_5', 'P_10', 'P_15', 'P_20', 'P_30', 'P_100', 'P_200', 'P_500', 'P_1000']);
  });
  it('accepts ir_measures names and our aliases, keyed as the user spelled them, without duplicates', () => {
    expect(parseMeasures('MRR@10,nDCG@10,Recall@1000,P@10,MAP,RR@10,ndcg_cut_10,ndcg@10,AP,ap@100')).toEqual([
      'MRR@10',
      'nDCG@10',
      'Recall@1000',
      'P@10',
      'MAP',
      'RR@10',
      'ndcg_cut_10',
      'AP',
      'AP@100',
    ]);
    expect(parseMeasures(['MRR'])).toEqual(['MRR']);
    expect(parseMeasures('R@1000 Judged@10 Success@10 Bpref Rprec NumQ NumRel(rel=2)')).toEqual([
      'R@1000',
      'Judged@10',
      'Success@10',
      'Bpref',
      'Rprec',
      'NumQ',
      'NumRel(rel=2)',
    ]);
    // (rel=N) before or after the cutoff, printed as ir_measures prints it; commas inside parentheses are kept
    expect(parseMeasures('AP(rel=2)@1000, R@1000(rel=2);nDCG@10')).toEqual([
      'AP(rel=2)@1000',
      'R(rel=2)@1000',
      'nDCG@10',
    ]);
  });
  it('accepts the new trec_eval families with their default cutoffs', () => {
    expect(parseMeasures('bpref map_cut.100 success')).toEqual([
      'bpref',
      'map_cut_100',
      'success_1',
      'success_5',
      'success_10',
    ]);
    expect(parseMeasures('map_cut')).toHaveLength(9);
    expect(parseMeasures('success_3,map_cut_7')).toEqual(['success_3', 'map_cut_7']);
  });
  it('every printed name parses back to itself', () => {
    const names = parseMeasures('AP(rel=2)@100 nDCG@10 RR Judged@5 P_10 map_cut.3 Bpref(rel=3) NumRelRet');
    expect(parseMeasures(names)).toEqual(names);
  });
  it('names the problem and lists the valid forms', () => {
    expect(() => parseMeasures('gm_map')).toThrow(
      /measures: unknown measure "gm_map"; valid forms: trec_eval names: map/,
    );
    expect(() => parseMeasures('nDCG(rel=2)@10')).toThrow(/takes no rel parameter/);
    expect(() => parseMeasures('AP(dcg=1)')).toThrow(/only rel=N/);
    expect(() => parseMeasures('Judged')).toThrow(/needs a cutoff, e\.g\. Judged@10/);
    expect(() => parseMeasures('Bpref@10')).toThrow(/takes no cutoff/);
    expect(() => parseMeasures('P.0')).toThrow(/must be a positive integer/);
    expect(() => parseMeasures('map,10')).toThrow(/does not follow a trec_eval measure with cutoffs/);
    expect(() => parseMeasures('nDCG@10,20')).toThrow(/does not follow a trec_eval measure with cutoffs/);
    expect(() => parseMeasures('')).toThrow(/no measure given/);
  });
  it('labels', () => {
    expect(
      [
        'ndcg_cut_10',
        'recip_rank_cut_10',
        'recall_1000',
        'P_10',
        'map',
        'recip_rank',
        'map_cut_100',
        'success_1',
        'bpref',
        'nDCG@10',
      ].map(measureLabel),
    ).toEqual(['nDCG@10', 'MRR@10', 'Recall@1000', 'P@10', 'MAP', 'MRR', 'AP@100', 'Success@1', 'Bpref', 'nDCG@10']);
  });
});

describe('trec_eval text output', () => {
  it('rounds like printf %.4f: exact ties to even', () => {
    expect(formatFixed4(0.03125)).toBe('0.0312'); // 1/32 is exact: tie -> even digit 2
    expect(formatFixed4(0.09375)).toBe('0.0938'); // 3/32: tie -> even digit 8
    expect(formatFixed4(5 / 9)).toBe('0.5556');
    expect(formatFixed4(1)).toBe('1.0000');
  });
  it('prints %-22s\\t%s\\t%6.4f lines, counts as integers, per-query lines first without num_q', () => {
    expect(formatLine('map', 'all', 5 / 9)).toBe('map                   \tall\t0.5556');
    expect(formatLine('num_rel', 'all', 4)).toBe('num_rel               \tall\t4');
    const r = evaluate(qrelsOf({ q1: q1Qrels }), runOf({ q1: q1Run }), { measures: ['num_q', 'P.5'] });
    expect(formatTrecEval(r, { perQuery: true })).toBe(
      'P_5                   \tq1\t0.4000\nnum_q                 \tall\t1\nP_5                   \tall\t0.4000\n',
    );
  });
});
