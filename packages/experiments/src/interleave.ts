import { mulberry32Uint } from '@dotrank/core';
import type { ShownResult, SystemName } from './types.js';

/**
 * Team-draft interleaving (Radlinski, Kurup and Joachims, "How does clickthrough data reflect retrieval quality?",
 * CIKM 2008, Algorithm 2). Two teams pick in turns; the team with fewer picks goes next, and when both have as many,
 * a coin decides. Each picks its highest-ranked document not yet shown. The draft ends when either team has nothing
 * left to pick (as published) or `length` results are shown.
 *
 * `a` is the control (`bm25`), `b` the treatment (`tasb`); `coin()` returns true when team A picks first in a tied
 * round: one fair bit per tied round, drawn from the impression's own seeded generator so a shown list can be
 * reproduced from its seed.
 */
export function teamDraftInterleave(
  a: readonly string[],
  b: readonly string[],
  length: number,
  coin: () => boolean,
): ShownResult[] {
  const shown: ShownResult[] = [];
  const taken = new Set<string>();
  let teamA = 0;
  let teamB = 0;
  let nextA = 0;
  let nextB = 0;
  const skipTaken = () => {
    while (nextA < a.length && taken.has(a[nextA]!)) nextA++;
    while (nextB < b.length && taken.has(b[nextB]!)) nextB++;
  };
  skipTaken();
  while (shown.length < length && nextA < a.length && nextB < b.length) {
    const pickA = teamA < teamB || (teamA === teamB && coin());
    const docId = pickA ? a[nextA]! : b[nextB]!;
    const system: SystemName = pickA ? 'bm25' : 'tasb';
    if (pickA) teamA++;
    else teamB++;
    shown.push({ docId, system });
    taken.add(docId);
    skipTaken();
  }
  return shown;
}

/** A 32-bit seed from a string (FNV-1a): an impression id gives the same coin sequence every time. */
export function seedFrom(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** The seeded coin of one impression: mulberry32 over the seed, one bit per draw. */
export function seededCoin(seed: number): () => boolean {
  const next = mulberry32Uint(seed);
  return () => next() >>> 31 === 1;
}
