import { describe, expect, it } from 'vitest';
import { dot, dotAt } from '../src/vector-math.js';
import { seededRandom } from '../src/testing/env.js';

const naive = (a: Float32Array, b: Float32Array, offset = 0) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[offset + i]!;
  return s;
};

describe('dot and dotAt', () => {
  const rnd = seededRandom(7);
  const vec = (n: number) => Float32Array.from({ length: n }, () => rnd() * 2 - 1);

  it('agree with a plain sum for every length, multiples of 4 or not', () => {
    for (const n of [1, 2, 3, 4, 5, 7, 8, 31, 768]) {
      const a = vec(n);
      const b = vec(n);
      expect(dot(a, b)).toBeCloseTo(naive(a, b), 10);
    }
    expect(dot(new Float32Array(0), new Float32Array(0))).toBe(0);
  });

  it('dotAt scores a matrix row exactly as dot scores the same row on its own', () => {
    const dim = 13;
    const q = vec(dim);
    const matrix = vec(dim * 5);
    for (let r = 0; r < 5; r++) {
      expect(dotAt(q, matrix, r * dim)).toBe(dot(q, matrix.slice(r * dim, (r + 1) * dim)));
      expect(dotAt(q, matrix, r * dim)).toBeCloseTo(naive(q, matrix, r * dim), 10);
    }
  });

  it('refuses vectors of different lengths and rows outside the matrix, naming the problem', () => {
    expect(() => dot(vec(3), vec(4))).toThrow(/vector: dimensions differ \(3 vs 4\)/);
    expect(() => dotAt(vec(4), vec(10), 7)).toThrow(/offset: row 7\.\.11 is outside the matrix \(10\)/);
    expect(() => dotAt(vec(4), vec(10), -1)).toThrow(/offset/);
  });
});
