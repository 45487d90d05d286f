import { ValidationError } from '@dotrank/core';

/**
 * How a long document's score comes from the scores of its passage windows (DOTRANK_DOC_SCORE):
 * - `first`: no windows at all, the text truncated to the passage length (the default: windows cost encoding time and
 *   cache memory);
 * - `firstp`: the first window's score (as `first`, but the document's other windows are cached for later use);
 * - `maxp`: the best window's score (Dai & Callan, SIGIR 2019: the usual choice when relevant text may sit anywhere);
 * - `sump` / `meanp`: the sum / mean of all windows' scores (favour documents relevant throughout; sump also favours
 *   long ones);
 * - `kmax:K`: the mean of the K best windows (fewer than K windows: the mean of those there are).
 */
export type DocScoreMode =
  | { kind: 'first' }
  | { kind: 'firstp' }
  | { kind: 'maxp' }
  | { kind: 'sump' }
  | { kind: 'meanp' }
  | { kind: 'kmax'; k: number };

export const DOC_SCORE_NAMES = ['first', 'firstp', 'maxp', 'sump', 'meanp', 'kmax:K'] as const;

/** Reads a doc-score name (`maxp`, `kmax:2`, ...); the error names `field` and lists the valid forms. */
export function parseDocScore(text: string, field = 'DOTRANK_DOC_SCORE'): DocScoreMode {
  const name = text.trim().toLowerCase();
  switch (name) {
    case 'first':
    case 'firstp':
    case 'maxp':
    case 'sump':
    case 'meanp':
      return { kind: name };
  }
  const kmax = /^kmax:(\d+)$/.exec(name);
  if (kmax) {
    const k = Number(kmax[1]);
    if (k >= 1 && k <= 1024) return { kind: 'kmax', k };
  }
  throw new ValidationError(field, `must be one of ${DOC_SCORE_NAMES.join(', ')} (K an integer 1-1024); got "${text}"`);
}

/** The name parseDocScore reads back. */
export function docScoreName(mode: DocScoreMode): string {
  return mode.kind === 'kmax' ? `kmax:${mode.k}` : mode.kind;
}

/** Whether documents are split into windows under this mode (`first` truncates instead). */
export function usesWindows(mode: DocScoreMode): boolean {
  return mode.kind !== 'first';
}

export interface DocScore {
  /** The document's score. */
  score: number;
  /** The window shown as the document's best passage: its highest-scoring one (the first among equals). */
  best: number;
}

/**
 * A document's score from its windows' scores, `scores[from..to)` (windows in text order; at least one). The best
 * window is reported whatever the mode, so that a result can show the passage that matched best.
 */
export function aggregateWindows(scores: ArrayLike<number>, from: number, to: number, mode: DocScoreMode): DocScore {
  if (to <= from) throw new RangeError(`a document needs at least one window (got ${from}..${to})`);
  let best = from;
  let sum = 0;
  for (let i = from; i < to; i++) {
    const s = scores[i]!;
    sum += s;
    if (s > scores[best]!) best = i;
  }
  const n = to - from;
  const bestIndex = best - from;
  switch (mode.kind) {
    case 'first':
    case 'firstp':
      return { score: scores[from]!, best: bestIndex };
    case 'maxp':
      return { score: scores[best]!, best: bestIndex };
    case 'sump':
      return { score: sum, best: bestIndex };
    case 'meanp':
      return { score: sum / n, best: bestIndex };
    case 'kmax': {
      const top = Array.from({ length: n }, (_, i) => scores[from + i]!)
        .sort((a, b) => b - a)
        .slice(0, mode.k);
      return { score: top.reduce((a, b) => a + b, 0) / top.length, best: bestIndex };
    }
  }
}
