import { ValidationError } from './errors.js';

/** Dot product of two vectors of equal length: the one TAS-B scoring function every package shares. */
export function dot(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new ValidationError('vector', `dimensions differ (${a.length} vs ${b.length})`);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}
