import { ValidationError } from './errors.js';

/**
 * Dot product of two vectors of equal length: the one TAS-B scoring function every package shares, so the same
 * vectors give the same score on every path (in-process, queue, cache read).
 */
export function dot(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new ValidationError('vector', `dimensions differ (${a.length} vs ${b.length})`);
  return dotAt(a, b, 0);
}

/**
 * `dot(a, row)` for the row of `matrix` that starts at element `offset` (rows of a.length elements), without a
 * subarray per row. Four running sums: a third faster than one (the adds no longer wait on each other), and the
 * order of additions is fixed, so the result is the same on every call.
 */
export function dotAt(a: Float32Array, matrix: Float32Array, offset: number): number {
  const n = a.length;
  if (offset < 0 || offset + n > matrix.length)
    throw new ValidationError('offset', `row ${offset}..${offset + n} is outside the matrix (${matrix.length})`);
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    const o = offset + i;
    s0 += a[i]! * matrix[o]!;
    s1 += a[i + 1]! * matrix[o + 1]!;
    s2 += a[i + 2]! * matrix[o + 2]!;
    s3 += a[i + 3]! * matrix[o + 3]!;
  }
  for (; i < n; i++) s0 += a[i]! * matrix[offset + i]!;
  return s0 + s1 + (s2 + s3);
}
