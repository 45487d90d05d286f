import { ValidationError, type FusionMode } from '@dotrank/core';
import type { Normalization } from './types.js';
import type { RankedColumns } from './wire.js';

/** Default weight of the first-stage score in `interpolate`: neutral 0.5 (tune per collection with `dotrank eval`). */
export const DEFAULT_ALPHA = 0.5;
export const DEFAULT_NORMALIZATION: Normalization = 'minmax';
/** The k of reciprocal rank fusion (Cormack et al. 2009). */
export const RRF_K = 60;

/** What fusion reads of the candidates: columns, one entry per candidate in the order received. */
export interface FusionColumns {
  ids: readonly string[];
  /** First-stage scores. */
  scores: ArrayLike<number>;
  /** Dot products with the query; required for every mode but `bm25`. */
  tasbScores?: ArrayLike<number>;
}

export interface FuseOptions {
  mode: FusionMode;
  alpha?: number;
  normalization?: Normalization;
  /** Keep only the best k. */
  k?: number;
}

/** Min-max to [0, 1]; a constant list maps to all zeros (it cannot order anything). */
export function minMaxNormalize(values: readonly number[]): number[] {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const range = max - min;
  return values.map((v) => (range > 0 ? (v - min) / range : 0));
}

/** (x - mean) / population standard deviation; a constant list maps to all zeros. */
export function zScoreNormalize(values: readonly number[]): number[] {
  const n = values.length;
  if (n === 0) return [];
  let mean = 0;
  for (const v of values) mean += v;
  mean /= n;
  let variance = 0;
  for (const v of values) variance += (v - mean) ** 2;
  const sd = Math.sqrt(variance / n);
  return values.map((v) => (sd > 0 ? (v - mean) / sd : 0));
}

/** Positions 0..n-1 ordered by score desc, then first-stage rank asc, then id (code-unit order): total, deterministic. */
function orderBy(scores: readonly number[], firstStageRank: readonly number[], ids: readonly string[]): number[] {
  const order = scores.map((_, i) => i);
  order.sort((a, b) => {
    if (scores[a] !== scores[b]) return scores[b]! - scores[a]!;
    if (firstStageRank[a] !== firstStageRank[b]) return firstStageRank[a]! - firstStageRank[b]!;
    return ids[a]! < ids[b]! ? -1 : ids[a]! > ids[b]! ? 1 : 0;
  });
  return order;
}

/** 1-based ranks of `scores` (desc), ties broken by first-stage rank then id. */
function ranksBy(scores: readonly number[], firstStageRank: readonly number[], ids: readonly string[]): number[] {
  const ranks = new Array<number>(scores.length);
  orderBy(scores, firstStageRank, ids).forEach((i, r) => (ranks[i] = r + 1));
  return ranks;
}

/** 1-based first-stage ranks: by first-stage score desc, ties in input order. */
function firstStageRanks(scores: ArrayLike<number>, positions: readonly number[]): number[] {
  const byFirst = positions.map((_, j) => j).sort((a, b) => scores[positions[b]!]! - scores[positions[a]!]! || a - b);
  const ranks = new Array<number>(positions.length);
  byFirst.forEach((j, r) => (ranks[j] = r + 1));
  return ranks;
}

/** The fused score of each of `positions`, fused among themselves (normalisation and ranks over them alone). */
function fusedScores(columns: FusionColumns, positions: readonly number[], options: FuseOptions): number[] {
  const { mode } = options;
  const alpha = options.alpha ?? DEFAULT_ALPHA;
  const bm25 = positions.map((p) => columns.scores[p]!);
  const tasb = (): number[] =>
    positions.map((p) => {
      const v = columns.tasbScores?.[p];
      if (v === undefined || !Number.isFinite(v)) {
        throw new ValidationError(`candidates.${p}.tasbScore`, `is required (a finite number) for fusion ${mode}`);
      }
      return v;
    });
  switch (mode) {
    case 'bm25':
      return bm25;
    case 'tasb':
      return tasb();
    case 'interpolate': {
      const normalize =
        (options.normalization ?? DEFAULT_NORMALIZATION) === 'zscore' ? zScoreNormalize : minMaxNormalize;
      const nb = normalize(bm25);
      const nt = normalize(tasb());
      return nb.map((b, i) => alpha * b + (1 - alpha) * nt[i]!);
    }
    case 'rrf': {
      const firstStageRank = firstStageRanks(columns.scores, positions);
      const denseRank = ranksBy(tasb(), firstStageRank, idsAt(columns, positions));
      return positions.map((_, i) => 1 / (RRF_K + firstStageRank[i]!) + 1 / (RRF_K + denseRank[i]!));
    }
    default:
      throw new ValidationError('fusion', `unknown mode ${String(mode)}`);
  }
}

const idsAt = (columns: FusionColumns, positions: readonly number[]) => positions.map((p) => columns.ids[p]!);

/**
 * Pure fusion of first-stage and dense scores, over columns; the result is what the wire result carries: positions
 * best first, their fused scores and (when dense scores were given) the dense scores of the reranked ones.
 * - `bm25`: score = first-stage score (first-stage order).
 * - `tasb`: score = dot product.
 * - `interpolate`: alpha * norm(bm25) + (1 - alpha) * norm(tasb), norm = min-max (default) or z-score over this list.
 * - `rrf`: 1 / (60 + rank_bm25) + 1 / (60 + rank_tasb).
 * Ties: score desc, then first-stage rank, then id.
 *
 * `textless` (positions of candidates without text, so without a dense score) follows one rule: the candidates with
 * text are fused among themselves; the textless ones follow them all, in first-stage order, with their first-stage
 * score as `score` and no `tasbScore` (they were not reranked). Then the best k. Fusion `bm25` needs no text: there
 * every candidate is fused as usual.
 */
export function fuse(columns: FusionColumns, options: FuseOptions, textless: readonly number[] = []): RankedColumns {
  const alpha = options.alpha ?? DEFAULT_ALPHA;
  if (!(alpha >= 0 && alpha <= 1)) throw new ValidationError('alpha', 'must be between 0 and 1');
  const n = columns.ids.length;
  const apart = options.mode === 'bm25' ? [] : textless;
  const isApart = new Uint8Array(n);
  for (const i of apart) isApart[i] = 1;
  const positions: number[] = [];
  for (let i = 0; i < n; i++) if (!isApart[i]) positions.push(i);
  const scores = positions.length > 0 ? fusedScores(columns, positions, options) : [];
  const order = orderBy(scores, firstStageRanks(columns.scores, positions), idsAt(columns, positions));
  const k = options.k === undefined ? n : Math.min(n, options.k);
  const reranked = Math.min(k, order.length);
  const index = new Array<number>(k);
  const score = new Array<number>(k);
  for (let r = 0; r < reranked; r++) {
    index[r] = positions[order[r]!]!;
    score[r] = scores[order[r]!]!;
  }
  // the textless ones, in first-stage order (score desc, then input order), keep their first-stage score
  const tail = [...apart].sort((a, b) => columns.scores[b]! - columns.scores[a]! || a - b);
  for (let r = reranked; r < k; r++) {
    index[r] = tail[r - reranked]!;
    score[r] = columns.scores[index[r]!]!;
  }
  const ranked: RankedColumns = { index, score };
  const { tasbScores } = columns;
  if (tasbScores && reranked > 0) ranked.tasbScore = index.slice(0, reranked).map((i) => tasbScores[i]!);
  return ranked;
}
