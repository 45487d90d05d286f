import { ValidationError, type FusionMode } from '@dotrank/core';
import type { Normalization } from './types.js';

/** Default weight of the first-stage score in `interpolate`: neutral 0.5 (tune per collection with `dotrank eval`). */
export const DEFAULT_ALPHA = 0.5;
export const DEFAULT_NORMALIZATION: Normalization = 'minmax';
/** The k of reciprocal rank fusion (Cormack et al. 2009). */
export const RRF_K = 60;

export interface FusionInput {
  id: string;
  /** First-stage score. */
  bm25Score: number;
  /** Dot product with the query; required for every mode but `bm25`. */
  tasbScore?: number;
}

export interface FusedItem extends FusionInput {
  rank: number;
  score: number;
  /** 1-based rank in the first stage (score desc, then input order). */
  firstStageRank: number;
  /** Position in the input. */
  index: number;
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

/** Orders items by score desc, then first-stage rank asc, then id (code-unit order): total and deterministic. */
export function compareFused(a: { score: number; firstStageRank: number; id: string }, b: typeof a): number {
  if (a.score !== b.score) return b.score - a.score;
  if (a.firstStageRank !== b.firstStageRank) return a.firstStageRank - b.firstStageRank;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** 1-based ranks of `scores` (desc), ties broken by first-stage rank then id. */
function ranksBy(scores: readonly number[], firstStageRank: readonly number[], ids: readonly string[]): number[] {
  const order = scores.map((_, i) => i);
  order.sort((a, b) =>
    compareFused(
      { score: scores[a]!, firstStageRank: firstStageRank[a]!, id: ids[a]! },
      { score: scores[b]!, firstStageRank: firstStageRank[b]!, id: ids[b]! },
    ),
  );
  const ranks = new Array<number>(scores.length);
  order.forEach((i, r) => (ranks[i] = r + 1));
  return ranks;
}

/** 1-based first-stage ranks: by first-stage score desc, ties in input order. */
function firstStageRanks(items: readonly FusionInput[]): number[] {
  const byFirst = items.map((_, i) => i).sort((a, b) => items[b]!.bm25Score - items[a]!.bm25Score || a - b);
  const ranks = new Array<number>(items.length);
  byFirst.forEach((i, r) => (ranks[i] = r + 1));
  return ranks;
}

/**
 * fuse() for a list where some candidates have no text (`textless`: their positions), so no dense score. The rule:
 * the candidates with text are fused among themselves; the textless ones follow them all, in first-stage order,
 * with their first-stage score as `score` and no `tasbScore` (they were not reranked). Then the best k. Fusion
 * `bm25` needs no text: there every candidate is fused as usual.
 */
export function fuseWithTextless(
  items: readonly FusionInput[],
  textless: readonly number[],
  options: FuseOptions,
): FusedItem[] {
  if (textless.length === 0 || options.mode === 'bm25') return fuse(items, options);
  const firstStageRank = firstStageRanks(items);
  const isTextless = new Uint8Array(items.length);
  for (const i of textless) isTextless[i] = 1;
  const withText = items.map((_, i) => i).filter((i) => !isTextless[i]);
  const reranked =
    withText.length > 0
      ? fuse(
          withText.map((i) => items[i]!),
          { ...options, k: undefined },
        )
      : [];
  for (const f of reranked) {
    f.index = withText[f.index]!;
    f.firstStageRank = firstStageRank[f.index]!;
  }
  const tail = [...textless]
    .sort((a, b) => firstStageRank[a]! - firstStageRank[b]!)
    .map((i): FusedItem => ({
      id: items[i]!.id,
      bm25Score: items[i]!.bm25Score,
      score: items[i]!.bm25Score,
      index: i,
      firstStageRank: firstStageRank[i]!,
      rank: 0,
    }));
  const all = reranked.concat(tail);
  const top = options.k === undefined ? all : all.slice(0, options.k);
  top.forEach((it, r) => (it.rank = r + 1));
  return top;
}

/**
 * Pure fusion of first-stage and dense scores.
 * - `bm25`: score = first-stage score (first-stage order).
 * - `tasb`: score = dot product.
 * - `interpolate`: alpha * norm(bm25) + (1 - alpha) * norm(tasb), norm = min-max (default) or z-score over this list.
 * - `rrf`: 1 / (60 + rank_bm25) + 1 / (60 + rank_tasb).
 * Ties: score desc, then first-stage rank, then id.
 */
export function fuse(items: readonly FusionInput[], options: FuseOptions): FusedItem[] {
  const { mode } = options;
  const alpha = options.alpha ?? DEFAULT_ALPHA;
  if (!(alpha >= 0 && alpha <= 1)) throw new ValidationError('alpha', 'must be between 0 and 1');
  const n = items.length;
  const ids = items.map((it) => it.id);
  const bm25 = items.map((it) => it.bm25Score);
  const firstStageRank = firstStageRanks(items);

  const tasb = (): number[] =>
    items.map((it, i) => {
      if (it.tasbScore === undefined || !Number.isFinite(it.tasbScore)) {
        throw new ValidationError(`candidates.${i}.tasbScore`, `is required (a finite number) for fusion ${mode}`);
      }
      return it.tasbScore;
    });

  let scores: number[];
  switch (mode) {
    case 'bm25':
      scores = bm25;
      break;
    case 'tasb':
      scores = tasb();
      break;
    case 'interpolate': {
      const normalize =
        (options.normalization ?? DEFAULT_NORMALIZATION) === 'zscore' ? zScoreNormalize : minMaxNormalize;
      const nb = normalize(bm25);
      const nt = normalize(tasb());
      scores = nb.map((b, i) => alpha * b + (1 - alpha) * nt[i]!);
      break;
    }
    case 'rrf': {
      const dense = tasb();
      const denseRank = ranksBy(dense, firstStageRank, ids);
      scores = items.map((_, i) => 1 / (RRF_K + firstStageRank[i]!) + 1 / (RRF_K + denseRank[i]!));
      break;
    }
    default:
      throw new ValidationError('fusion', `unknown mode ${String(mode)}`);
  }

  // explicit fields, not `{ ...it }`: object spread in this hot path cost ~20 us per item (V8 slow path)
  const fused: FusedItem[] = items.map((it, i) => {
    const item: FusedItem = {
      id: it.id,
      bm25Score: it.bm25Score,
      index: i,
      score: scores[i]!,
      firstStageRank: firstStageRank[i]!,
      rank: 0,
    };
    if (it.tasbScore !== undefined) item.tasbScore = it.tasbScore;
    return item;
  });
  fused.sort(compareFused);
  const k = options.k === undefined ? n : Math.min(n, options.k);
  const top = fused.slice(0, k);
  top.forEach((it, r) => (it.rank = r + 1));
  return top;
}
