import { describe, expect, it } from 'vitest';
import type { Qrels } from '@dotrank/datasets';
import { evaluate } from '../src/evaluate.js';

// Hand-computed values of the measures trec_eval 9 has beside the classic ones (bpref, map_cut, success) and of
// judged-only evaluation (-J) and ir_measures' Judged@k. The parity test checks the same measures on real runs.
const qrelsOf = (o: Record<string, Record<string, number>>): Qrels =>
  new Map(Object.entries(o).map(([q, docs]) => [q, new Map(Object.entries(docs))]));
const runOf = (o: Record<string, string[]>) =>
  new Map(Object.entries(o).map(([q, docs]) => [q, docs.map((docId, i) => ({ docId, score: docs.length - i }))]));

// Relevant r1 r2 r3 (r3 grade 2); judged non-relevant n1 n2; u1 in the pool but unjudged (-1); x1 x2 not in the qrels.
const qrels = qrelsOf({ q: { r1: 1, r2: 1, r3: 2, n1: 0, n2: 0, u1: -1 } });
// ranking: x1 r1 n1 u1 r2 x2 n2 r3
const run = runOf({ q: ['x1', 'r1', 'n1', 'u1', 'r2', 'x2', 'n2', 'r3'] });
const measures = [
  'bpref',
  'map',
  'map_cut.2,5',
  'success.1,2',
  'Judged@1',
  'Judged@4',
  'Judged@20',
  'P.5',
  'Rprec',
  'num_ret',
];

describe('bpref, map_cut, success (trec_eval 9)', () => {
  const v = evaluate(qrels, run, { measures }).perQuery.get('q')!;
  it('bpref: each relevant doc counts 1 - (non-relevant above it, at most R) / min(N, R), over R', () => {
    // R = 3, N = 2: r1 has 0 non-relevant above -> 1; r2 has n1 above -> 1 - 1/2; r3 has n1 n2 -> 1 - 2/2 = 0.
    // x1, x2 (not in the pool) and u1 (unjudged) are skipped.
    expect(v['bpref']).toBeCloseTo((1 + 0.5 + 0) / 3, 12);
  });
  it('map_cut_k: precision at the relevant docs of the top k, over all R relevant', () => {
    expect(v['map_cut_2']).toBeCloseTo(1 / 2 / 3, 12); // r1 at rank 2
    expect(v['map_cut_5']).toBeCloseTo((1 / 2 + 2 / 5) / 3, 12); // r2 at rank 5
    expect(v['map']).toBeCloseTo((1 / 2 + 2 / 5 + 3 / 8) / 3, 12);
  });
  it('success_k: 1 when a relevant doc is in the top k', () => {
    expect(v['success_1']).toBe(0);
    expect(v['success_2']).toBe(1);
  });
  it('Judged@k (ir_measures): the share of the top min(k, retrieved) with any judgment, a negative grade too', () => {
    expect(v['Judged@1']).toBe(0); // x1
    expect(v['Judged@4']).toBeCloseTo(3 / 4, 12); // r1 n1 u1 judged, x1 not
    expect(v['Judged@20']).toBeCloseTo(6 / 8, 12); // only 8 retrieved: divided by 8, not 20
  });
});

describe('judged-only evaluation (trec_eval -J)', () => {
  const v = evaluate(qrels, run, { measures, judgedOnly: true }).perQuery.get('q')!;
  it('drops unjudged docs (not in the qrels, or a negative grade) and closes up the ranks', () => {
    // condensed ranking: r1 n1 r2 n2 r3
    expect(v['num_ret']).toBe(5);
    expect(v['success_1']).toBe(1);
    expect(v['map']).toBeCloseTo((1 / 1 + 2 / 3 + 3 / 5) / 3, 12);
    expect(v['P_5']).toBeCloseTo(3 / 5, 12);
    expect(v['Rprec']).toBeCloseTo(2 / 3, 12); // r1 n1 r2 in the top 3
    expect(v['Judged@4']).toBe(1);
  });
  it('leaves bpref unchanged: it already skips unjudged docs', () => {
    expect(v['bpref']).toBeCloseTo((1 + 0.5 + 0) / 3, 12);
  });
  it('applies after -M: the first maxResults of the full ranking, then the judged among them', () => {
    const m = evaluate(qrels, run, { measures: ['num_ret', 'P.2'], judgedOnly: true, maxResults: 3 }).perQuery.get(
      'q',
    )!;
    expect(m['num_ret']).toBe(2); // x1 r1 n1 -> r1 n1
    expect(m['P_2']).toBeCloseTo(1 / 2, 12);
  });
});

describe('a relevance level per measure: (rel=N)', () => {
  it('overrides the evaluation level for that measure only', () => {
    const r = evaluate(qrels, run, {
      measures: ['AP', 'AP(rel=2)', 'R(rel=2)@5', 'R@5', 'NumRel(rel=2)', 'Bpref(rel=2)'],
    });
    const v = r.perQuery.get('q')!;
    expect(v['AP']).toBeCloseTo((1 / 2 + 2 / 5 + 3 / 8) / 3, 12);
    expect(v['AP(rel=2)']).toBeCloseTo(1 / 8, 12); // only r3 is relevant at 2, at rank 8
    expect(v['R(rel=2)@5']).toBe(0);
    expect(v['R@5']).toBeCloseTo(2 / 3, 12);
    expect(v['NumRel(rel=2)']).toBe(1);
    expect(r.aggregate['NumRel(rel=2)']).toBe(1); // a count: summed
    // at rel 2: N = 4 judged below 2 (r1 r2 n1 n2), R = 1: r3 has n1 r1... -> min(4, 1) / min(4, 1) = 1 -> 0
    expect(v['Bpref(rel=2)']).toBe(0);
  });
  it('ir_measures names give the same values as the trec_eval names', () => {
    const r = evaluate(qrels, run, {
      measures: [
        'nDCG@5',
        'ndcg_cut.5',
        'AP@5',
        'map_cut.5',
        'RR@3',
        'recip_rank_cut.3',
        'Success@2',
        'success.2',
        'P@5',
        'P.5',
      ],
    });
    const v = r.perQuery.get('q')!;
    expect(v['nDCG@5']).toBe(v['ndcg_cut_5']);
    expect(v['AP@5']).toBe(v['map_cut_5']);
    expect(v['RR@3']).toBe(v['recip_rank_cut_3']);
    expect(v['RR@3']).toBe(1 / 2);
    expect(v['Success@2']).toBe(v['success_2']);
    expect(v['P@5']).toBe(v['P_5']);
  });
});

describe('queries: one query set for several runs', () => {
  it('evaluates exactly the given queries that have judgments; those missing from the run score 0 and are marked', () => {
    const q2 = qrelsOf({ q: { r1: 1 }, q2: { a: 1 }, q3: { b: 1 } });
    const r = evaluate(q2, runOf({ q: ['r1'] }), { measures: ['P.1', 'num_q'], queries: ['q', 'q2', 'nope'] });
    expect([...r.perQuery.keys()]).toEqual(['q', 'q2']);
    expect(r.aggregate['P_1']).toBe(0.5);
    expect(r.aggregate['num_q']).toBe(2);
    expect([...(r.missing ?? [])]).toEqual(['q2']);
  });
});
