/**
 * mulberry32: a small, well-known seeded PRNG (one 32-bit state). The one copy in the tree: evaluation's
 * randomization test, the built-in HNSW's level draws, and test data all use it, so a seed means the same sequence
 * everywhere.
 */

/** One step: the next state and its output as an unsigned 32-bit integer. For callers that persist the state. */
export function mulberry32Step(state: number): { state: number; bits: number } {
  const next = (state + 0x6d2b79f5) >>> 0;
  let t = next;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return { state: next, bits: (t ^ (t >>> 14)) >>> 0 };
}

/** A generator of unsigned 32-bit integers; same seed, same sequence. */
export function mulberry32Uint(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    const step = mulberry32Step(state);
    state = step.state;
    return step.bits;
  };
}

/** A generator of floats in [0, 1); same seed, same sequence. */
export function mulberry32(seed: number): () => number {
  const next = mulberry32Uint(seed);
  return () => next() / 4294967296;
}
