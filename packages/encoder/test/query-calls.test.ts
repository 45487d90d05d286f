import { describe, expect, it } from 'vitest';
import { CallCostModel, DEFAULT_CALL_OVERHEAD_TOKENS, planQueryCalls } from '../src/query-calls.js';

/** The cost of cutting sorted `lengths` into calls of `sizes`: a fixed part per call plus its padded tokens. */
function cost(lengths: number[], sizes: number[], overhead: number): number {
  let total = 0;
  let at = 0;
  for (const size of sizes) {
    at += size;
    total += overhead + size * lengths[at - 1]!;
  }
  return total;
}

/** Every way to cut n sorted items into runs of neighbours (2^(n-1) of them). */
function allCuts(n: number): number[][] {
  const out: number[][] = [];
  for (let mask = 0; mask < 2 ** (n - 1); mask++) {
    const sizes: number[] = [];
    let run = 1;
    for (let k = 0; k < n - 1; k++) {
      if (mask & (1 << k)) {
        sizes.push(run);
        run = 1;
      } else run++;
    }
    sizes.push(run);
    out.push(sizes);
  }
  return out;
}

describe('planQueryCalls', () => {
  it('by hand: one call for similar lengths, a cut where padding would cost more than a call', () => {
    expect(planQueryCalls([10, 10, 11, 12], 24)).toEqual([4]);
    // 3 queries of 8 and 3 of 40: together 6 x 40 = 240 tokens; apart 24 + 24 + 24 + 120 = 192
    expect(planQueryCalls([8, 8, 8, 40, 40, 40], 24)).toEqual([3, 3]);
    // a fixed part as large as a GPU's: one call whatever the padding
    expect(planQueryCalls([8, 8, 8, 40, 40, 40], 1000)).toEqual([6]);
    // calls almost free: a call per distinct length
    expect(planQueryCalls([8, 8, 20, 40], 0.5)).toEqual([2, 1, 1]);
    expect(planQueryCalls([], 24)).toEqual([]);
  });

  it('finds the cheapest cut among all cuts (random lengths, several fixed parts)', () => {
    let seed = 3;
    const random = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32;
    for (let trial = 0; trial < 60; trial++) {
      const n = 1 + Math.floor(random() * 11);
      const lengths = Array.from({ length: n }, () => 4 + Math.floor(random() * 60)).sort((a, b) => a - b);
      const overhead = [1, 8, 24, 100][trial % 4]!;
      const plan = planQueryCalls(lengths, overhead);
      expect(plan.reduce((a, b) => a + b, 0)).toBe(n);
      const cheapest = Math.min(...allCuts(n).map((sizes) => cost(lengths, sizes, overhead)));
      expect(cost(lengths, plan, overhead)).toBeCloseTo(cheapest, 9);
    }
  });

  it('above 512 queries cuts greedily and still covers every query', () => {
    const lengths = Array.from({ length: 600 }, (_, i) => 5 + Math.floor(i / 20));
    const plan = planQueryCalls(lengths, 24);
    expect(plan.reduce((a, b) => a + b, 0)).toBe(600);
    expect(plan.length).toBeGreaterThan(1);
  });
});

describe('CallCostModel', () => {
  it('learns the fixed part of a call in tokens from timed calls, and keeps the default until it can', () => {
    const model = new CallCostModel();
    expect(model.overheadTokens()).toBe(DEFAULT_CALL_OVERHEAD_TOKENS);
    // ms = 15 + 0.5 * tokens: the fixed part is worth 30 tokens
    for (let i = 0; i < 40; i++) {
      const tokens = 10 + (i % 8) * 25;
      model.observe(tokens, 15 + 0.5 * tokens);
    }
    expect(model.overheadTokens()).toBeCloseTo(30, 6);
  });

  it('ignores a degenerate fit (no spread in sizes, or time falling with size) and bad samples', () => {
    const flat = new CallCostModel();
    for (let i = 0; i < 40; i++) flat.observe(20, 12);
    expect(flat.overheadTokens()).toBe(DEFAULT_CALL_OVERHEAD_TOKENS);
    const falling = new CallCostModel();
    for (let i = 0; i < 40; i++) falling.observe(10 + i, 100 - i);
    expect(falling.overheadTokens()).toBe(DEFAULT_CALL_OVERHEAD_TOKENS);
    const bad = new CallCostModel();
    for (let i = 0; i < 40; i++) bad.observe(Number.NaN, -1);
    expect(bad.overheadTokens()).toBe(DEFAULT_CALL_OVERHEAD_TOKENS);
  });
});
