// The dashboard restates the metrics.json shape (it bundles no node code); this test keeps the two in step by
// feeding a report built by @dotrank/eval itself through the dashboard's reader and data functions.
import { describe, expect, it } from 'vitest';
import { buildMetricsReport, evaluate } from '@dotrank/eval';
import type { MetricsReport as EvalMetricsReport } from '@dotrank/eval';
import { normaliseMetrics } from '../src/api.js';
import { defaultDeltaMeasure, orderMeasures, perQueryDeltas, winTieLoss } from '../src/data.js';
import type { MetricsReport } from '../src/types.js';

// Compile-time: every report @dotrank/eval can write is one the dashboard's types accept.
const _assignable = (r: EvalMetricsReport): MetricsReport => r;
void _assignable;

describe('metrics.json from @dotrank/eval', () => {
  it('reads a report built by buildMetricsReport', () => {
    // q1: d1 relevant. bm25 ranks it 2nd, tasb 1st. q2: d5 relevant; both rank it 1st.
    const qrels = new Map([
      ['q1', new Map([['d1', 1]])],
      ['q2', new Map([['d5', 1]])],
    ]);
    const bm25 = new Map([
      [
        'q1',
        [
          { docId: 'd2', score: 2 },
          { docId: 'd1', score: 1 },
        ],
      ],
      [
        'q2',
        [
          { docId: 'd5', score: 3 },
          { docId: 'd6', score: 1 },
        ],
      ],
    ]);
    const tasb = new Map([
      [
        'q1',
        [
          { docId: 'd1', score: 9 },
          { docId: 'd2', score: 8 },
        ],
      ],
      [
        'q2',
        [
          { docId: 'd5', score: 7 },
          { docId: 'd6', score: 6 },
        ],
      ],
    ]);
    const report = buildMetricsReport({
      collection: { name: 'toy', queries: 2, documents: 6 },
      model: null,
      depth: 2,
      level: 1,
      systems: { bm25: evaluate(qrels, bm25), tasb: evaluate(qrels, tasb) },
      significance: { trials: 200, seed: 1 },
    });
    const read = normaliseMetrics(JSON.parse(JSON.stringify(report)));
    expect(read.baseline).toBe('bm25');
    const measure = defaultDeltaMeasure(read.measures)!;
    expect(measure).toMatch(/^ndcg_cut/);
    expect(orderMeasures(read.measures)[0]).toMatch(/^recip_rank/);
    const deltas = perQueryDeltas(read.systems['tasb']!, read.systems['bm25']!, 'recip_rank');
    // reciprocal rank: q1 goes from 1/2 to 1, q2 stays at 1.
    expect(deltas.map((d) => [d.qid, d.delta])).toEqual([
      ['q1', 0.5],
      ['q2', 0],
    ]);
    expect(winTieLoss(deltas)).toEqual({ wins: 1, ties: 1, losses: 0 });
    expect(read.systems['tasb']!.significance?.['recip_rank']).toMatchObject({
      wins: 1,
      ties: 1,
      losses: 0,
      delta: 0.25,
    });
  });
});
