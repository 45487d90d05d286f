import { describe, expect, it } from 'vitest';
import {
  bootstrapDeltaInterval,
  impressionsForPower,
  signTestPValue,
  signTestSampleSize,
  twoProportionSampleSize,
} from '../src/stats.js';
import { jaccardAt, kendallTauUnion, rankBiasedOverlap } from '../src/overlap.js';

describe('sign test (exact, two-sided)', () => {
  it('matches the binomial sums by hand', () => {
    // n = 10: P(X <= 2) = (1 + 10 + 45) / 1024
    expect(signTestPValue(8, 2)).toBeCloseTo((2 * 56) / 1024, 12);
    expect(signTestPValue(2, 8)).toBeCloseTo((2 * 56) / 1024, 12);
    expect(signTestPValue(10, 0)).toBeCloseTo(2 / 1024, 12);
    expect(signTestPValue(5, 5)).toBe(1);
    expect(signTestPValue(0, 0)).toBe(1);
    // n = 3, 3-0: 2 · 1/8
    expect(signTestPValue(3, 0)).toBeCloseTo(0.25, 12);
  });

  it('stays accurate for large counts (normal approximation as a cross-check)', () => {
    // 1,100 vs 900: z = 200 / sqrt(2000) / 1 ≈ 4.47 -> p ≈ 7.7e-6 (continuity-corrected z 4.45 -> 8.4e-6)
    const p = signTestPValue(1100, 900);
    expect(p).toBeGreaterThan(5e-6);
    expect(p).toBeLessThan(1.2e-5);
  });
});

describe('bootstrap interval for Δ', () => {
  it('is a point when every impression has the same outcome', () => {
    expect(bootstrapDeltaInterval(30, 0, 0)).toEqual([1, 1]);
    expect(bootstrapDeltaInterval(0, 0, 0)).toEqual([0, 0]);
  });

  it('matches the normal interval by hand and is reproducible by seed', () => {
    // 60 wins, 20 ties, 20 losses: Δ = 0.4, var(outcome) = 0.8 - 0.16 = 0.64, se = 0.08 -> 0.4 ± 0.157
    const [low, high] = bootstrapDeltaInterval(60, 20, 20, { resamples: 4000, seed: 1 });
    expect(low).toBeCloseTo(0.243, 1);
    expect(high).toBeCloseTo(0.557, 1);
    expect(low).toBeLessThan(0.4);
    expect(high).toBeGreaterThan(0.4);
    expect(bootstrapDeltaInterval(60, 20, 20, { resamples: 500, seed: 9 })).toEqual(
      bootstrapDeltaInterval(60, 20, 20, { resamples: 500, seed: 9 }),
    );
  });
});

describe('sample sizes for 80 % power at α = 0.05', () => {
  it('sign test: ((1.96·0.5 + 0.8416·√(p(1−p))) / (p − 0.5))²', () => {
    expect(signTestSampleSize(0.6)).toBe(194);
    expect(signTestSampleSize(0.5)).toBe(Number.POSITIVE_INFINITY);
    // 60 wins, 40 losses among 100 decided of 400 impressions: 194 decided / (100/400)
    expect(impressionsForPower(400, 60, 40)).toBe(776);
    expect(impressionsForPower(400, 50, 50)).toBeUndefined();
  });

  it('two proportions: the textbook 388 per group for 0.5 vs 0.6', () => {
    expect(twoProportionSampleSize(0.5, 0.6)).toBe(388);
  });
});

describe('ranking overlap', () => {
  it('Jaccard@k', () => {
    expect(jaccardAt(['a', 'b', 'c'], ['b', 'c', 'd'])).toBe(0.5);
    expect(jaccardAt(['a', 'b', 'c'], ['a', 'x', 'y'], 1)).toBe(1);
    expect(jaccardAt([], [])).toBe(1);
  });

  it('rank-biased overlap (extrapolated, p = 0.9) against hand computations', () => {
    expect(rankBiasedOverlap(['a', 'b', 'c'], ['a', 'b', 'c'])).toBeCloseTo(1, 12);
    expect(rankBiasedOverlap(['a', 'b'], ['c', 'd'])).toBe(0);
    // X1 = 0, X2 = 2: (0.1/0.9)(0 + 1·0.81) + 1·0.81 = 0.9
    expect(rankBiasedOverlap(['a', 'b'], ['b', 'a'])).toBeCloseTo(0.9, 12);
    // X = 1, 1, 2: (1/9)(0.9 + 0.405 + 0.486) + (2/3)·0.729 = 0.685
    expect(rankBiasedOverlap(['a', 'b', 'c'], ['a', 'c', 'd'])).toBeCloseTo(1.791 / 9 + 0.486, 12);
    // unequal lengths (eq. 32): S = [a], L = [a, b] -> (1/9)(0.9 + 0.405 + 0.405) + 0.81 = 1
    expect(rankBiasedOverlap(['a'], ['a', 'b'])).toBeCloseTo(1, 12);
    expect(rankBiasedOverlap(['a', 'b'], ['a'])).toBeCloseTo(1, 12);
  });

  it("Kendall's tau-b on the union", () => {
    expect(kendallTauUnion(['a', 'b', 'c'], ['a', 'b', 'c'])).toBe(1);
    expect(kendallTauUnion(['a', 'b', 'c'], ['c', 'b', 'a'])).toBe(-1);
    // union a, b, c: ranks (0, 1, 2) and (0, 2, 1): two concordant pairs, one discordant
    expect(kendallTauUnion(['a', 'b'], ['a', 'c'])).toBeCloseTo(1 / 3, 12);
  });
});
