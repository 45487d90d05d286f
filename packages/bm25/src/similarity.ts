import { LENGTH_TABLE } from './small-float.js';

const f = Math.fround;

export interface BM25Params {
  /** Term-frequency saturation (Lucene default 1.2). */
  k1: number;
  /** Length normalisation (Lucene default 0.75). */
  b: number;
}

export const DEFAULT_PARAMS: Readonly<BM25Params> = Object.freeze({ k1: 1.2, b: 0.75 });

/** Lucene 8 `BM25Similarity.idf`: computed in double, returned as float. */
export function idf(docFreq: number, docCount: number): number {
  return f(Math.log(1 + (docCount - docFreq + 0.5) / (docFreq + 0.5)));
}

/** Lucene 8 `avgFieldLength`: sumTotalTermFreq / docCount in double, as float. */
export function avgFieldLength(sumTotalTermFreq: number, docCount: number): number {
  return f(sumTotalTermFreq / docCount);
}

/**
 * Lucene 8.x `BM25Similarity.scorer` norm cache: `1f / (k1 * ((1 - b) + b * LENGTH_TABLE[i] / avgdl))`,
 * every operation in float32, in Lucene's order.
 */
export function normInverseCache(params: BM25Params, avgdl: number): Float32Array {
  const k1 = f(params.k1);
  const b = f(params.b);
  const cache = new Float32Array(256);
  for (let i = 0; i < 256; i++) {
    const lengthTerm = f(f(b * LENGTH_TABLE[i]!) / avgdl);
    cache[i] = f(1 / f(k1 * f(f(1 - b) + lengthTerm)));
  }
  return cache;
}

/** Clause weight: `boost * idf` in float (a query term repeated n times is one clause with boost n, as Lucene rewrites it). */
export function clauseWeight(boost: number, termIdf: number): number {
  return f(f(boost) * termIdf);
}

/**
 * Lucene 8.x `BM25Scorer.score(freq, norm)`: `weight - weight / (1 + freq * normInverse)` in float32.
 * No (k1 + 1) factor: Lucene 8 dropped it (it does not change the ranking).
 */
export function termScore(weight: number, freq: number, normInverse: number): number {
  return f(weight - f(weight / f(1 + f(freq * normInverse))));
}
