import { dot } from '@dotrank/core';

// the shared implementation; re-exported here because encoder users score with it
export { dot };

/** Cosine similarity; 0 when either vector is all zeros. */
export function cosine(a: Float32Array, b: Float32Array): number {
  const ab = dot(a, b);
  const norms = Math.sqrt(dot(a, a)) * Math.sqrt(dot(b, b));
  return norms === 0 ? 0 : ab / norms;
}

/** The first token's hidden state of row `row` of a `[batch, seq, dim]` tensor. */
export function clsPool(hidden: Float32Array, row: number, seqLen: number, dim: number): Float32Array {
  const start = row * seqLen * dim;
  return hidden.slice(start, start + dim);
}

/** Mean of the hidden states of row `row` over the first `length` (unpadded) positions. */
export function meanPool(hidden: Float32Array, row: number, seqLen: number, dim: number, length: number): Float32Array {
  const out = new Float64Array(dim);
  const base = row * seqLen * dim;
  const n = Math.max(1, Math.min(length, seqLen));
  for (let t = 0; t < n; t++) {
    const offset = base + t * dim;
    for (let d = 0; d < dim; d++) out[d] = out[d]! + hidden[offset + d]!;
  }
  const result = new Float32Array(dim);
  for (let d = 0; d < dim; d++) result[d] = out[d]! / n;
  return result;
}
