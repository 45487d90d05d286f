import { describe, expect, it } from 'vitest';
import { aggregateWindows, docScoreName, parseDocScore, usesWindows } from '../src/doc-score.js';

// Two documents in one column: [0.5, 2, -1, 1.5] and [3].
const scores = Float64Array.from([0.5, 2, -1, 1.5, 3]);

describe('document scores from window scores', () => {
  it.each([
    ['first', 0.5],
    ['firstp', 0.5],
    ['maxp', 2],
    ['sump', 3],
    ['meanp', 0.75],
    ['kmax:2', 1.75],
    ['kmax:3', (2 + 1.5 + 0.5) / 3],
    ['kmax:9', 0.75],
  ])('%s of [0.5, 2, -1, 1.5] is %d, and the best passage is window 1', (name, expected) => {
    const result = aggregateWindows(scores, 0, 4, parseDocScore(name));
    expect(result.score).toBeCloseTo(expected, 12);
    expect(result.best).toBe(1);
  });

  it('reads a window range out of a longer column (a one-window document is its window)', () => {
    for (const name of ['firstp', 'maxp', 'sump', 'meanp', 'kmax:2'])
      expect(aggregateWindows(scores, 4, 5, parseDocScore(name))).toEqual({ score: 3, best: 0 });
  });

  it('takes the first of equal best windows', () => {
    expect(aggregateWindows([1, 4, 4], 0, 3, { kind: 'maxp' }).best).toBe(1);
  });

  it('refuses an empty range', () => {
    expect(() => aggregateWindows(scores, 2, 2, { kind: 'maxp' })).toThrow(RangeError);
  });

  it('parses names case-insensitively, round-trips them and refuses others naming the setting', () => {
    expect(parseDocScore(' MaxP ')).toEqual({ kind: 'maxp' });
    expect(docScoreName(parseDocScore('kmax:4'))).toBe('kmax:4');
    expect(usesWindows(parseDocScore('first'))).toBe(false);
    expect(usesWindows(parseDocScore('maxp'))).toBe(true);
    for (const bad of ['max', 'kmax', 'kmax:0', 'kmax:x', 'kmax:2000', ''])
      expect(() => parseDocScore(bad)).toThrow(/DOTRANK_DOC_SCORE.*first, firstp, maxp, sump, meanp, kmax:K/);
    expect(() => parseDocScore('p', '--doc-score')).toThrow(/--doc-score/);
  });
});
