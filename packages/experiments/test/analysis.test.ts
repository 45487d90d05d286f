import { describe, expect, it } from 'vitest';
import { analyzeExperiment, creditOf, outcomeOf } from '../src/analysis.js';
import type { ExperimentEvent, Impression, ShownResult } from '../src/types.js';

const shown = (spec: string): ShownResult[] =>
  spec.split(' ').map((t) => ({ docId: t.slice(1), system: t[0] === 'b' ? 'bm25' : 'tasb' }));

function impression(id: string, query: string, spec: string, mode: Impression['mode'] = 'interleave'): Impression {
  const list = shown(spec);
  return {
    impressionId: id,
    experiment: 'e',
    mode,
    query,
    control: list.filter((r) => r.system === 'bm25').map((r) => r.docId),
    treatment: list.filter((r) => r.system === 'tasb').map((r) => r.docId),
    shown: list,
    time: 0,
  };
}

let n = 0;
const click = (impressionId: string, docId: string, type: ExperimentEvent['type'] = 'click'): ExperimentEvent => ({
  eventId: `e${n++}`,
  experiment: 'e',
  impressionId,
  type,
  docId,
  timestamp: 0,
});

describe('interleaving credit and outcome', () => {
  it('counts each clicked result once for the team that placed it; other event types give no credit', () => {
    const imp = impression('i', 'q', 'b1 t2 b3 t4');
    const events = [click('i', '2'), click('i', '2'), click('i', '4'), click('i', '1'), click('i', '3', 'dwell')];
    expect(creditOf(imp, events)).toEqual({ bm25: 1, tasb: 2 });
    expect(outcomeOf({ bm25: 1, tasb: 2 })).toBe('win');
    expect(outcomeOf({ bm25: 1, tasb: 1 })).toBe('tie');
    expect(outcomeOf({ bm25: 2, tasb: 0 })).toBe('loss');
    expect(outcomeOf({ bm25: 0, tasb: 0 })).toBeUndefined();
    // a document not shown in this impression gives nothing
    expect(creditOf(imp, [click('i', '99')])).toEqual({ bm25: 0, tasb: 0 });
  });

  it('the report: hand-counted wins, ties, losses, Δ, sign test and per-query rows', () => {
    const impressions = [
      impression('1', 'wing', 'b1 t2'),
      impression('2', 'wing', 'b1 t2'),
      impression('3', 'wing', 't2 b1'),
      impression('4', 'flow', 'b5 t6'),
      impression('5', 'flow', 'b5 t6'),
      impression('6', 'flow', 'b5 t6'),
    ];
    const events = [
      click('1', '2'), // win
      click('2', '1'), // loss
      click('3', '2'),
      click('3', '1'), // tie
      click('4', '6'), // win
      click('5', '6'), // win
      // 6: no clicks
    ];
    const report = analyzeExperiment(impressions, events, { name: 'e', mode: 'interleave' });
    expect(report).toMatchObject({
      name: 'e',
      mode: 'interleave',
      impressions: 6,
      impressionsWithClicks: 5,
      wins: 3,
      ties: 1,
      losses: 1,
    });
    expect(report.delta).toBeCloseTo(2 / 5, 12);
    // n = 4 decided, 3 vs 1: 2 · (1 + 4) / 16
    expect(report.pValue).toBeCloseTo(10 / 16, 12);
    expect(report.ci[0]).toBeLessThanOrEqual(report.delta);
    expect(report.ci[1]).toBeGreaterThanOrEqual(report.delta);
    expect(report.perQuery).toEqual([
      { query: 'flow', impressions: 3, impressionsWithClicks: 2, wins: 2, ties: 0, losses: 0, delta: 1 },
      { query: 'wing', impressions: 3, impressionsWithClicks: 3, wins: 1, ties: 1, losses: 1, delta: 0 },
    ]);
    expect(report.impressionsFor80Power).toBeGreaterThan(0);
    expect(report.shadow).toBeUndefined();
  });

  it('shadow impressions give the overlap summary, most different queries first', () => {
    const same: Impression = { ...impression('s1', 'same', 'b1 b2'), mode: 'shadow', treatment: ['1', '2'] };
    const swapped: Impression = { ...impression('s2', 'swap', 'b1 b2'), mode: 'shadow', treatment: ['2', '1'] };
    const failed: Impression = { ...impression('s3', 'fail', 'b1 b2'), mode: 'shadow', treatment: [] };
    const report = analyzeExperiment([same, swapped, failed], [], { name: 'e', mode: 'shadow' });
    expect(report.impressions).toBe(0);
    expect(report.shadow!.impressions).toBe(2);
    expect(report.shadow!.disagreements.map((d) => d.query)).toEqual(['swap', 'same']);
    expect(report.shadow!.disagreements[0]!.rbo).toBeCloseTo(0.9, 12);
    expect(report.shadow!.meanJaccard10).toBe(1);
    expect(report.shadow!.rboHistogram[9]).toBe(2);
  });
});
