// The statistics of an interleaving experiment: an exact two-sided sign test, a bootstrap interval for Δ, and the
// sample size 80 % power needs. Pure functions over counts, so each is checked against a hand computation.
import { mulberry32 } from '@dotrank/core';

/** ln C(n, k) through log-gamma-free summation of logs: exact enough for n up to millions. */
function logChoose(n: number, k: number, logFactorials: Float64Array): number {
  return logFactorials[n]! - logFactorials[k]! - logFactorials[n - k]!;
}

function logFactorialTable(n: number): Float64Array {
  const table = new Float64Array(n + 1);
  for (let i = 2; i <= n; i++) table[i] = table[i - 1]! + Math.log(i);
  return table;
}

/**
 * Two-sided exact sign test: under H0 each non-tied impression is a win with probability 1/2. The p-value is
 * P(X <= min) + P(X >= max) for X ~ Binomial(wins + losses, 1/2), capped at 1 (ties are left out, as the test does).
 */
export function signTestPValue(wins: number, losses: number): number {
  const n = wins + losses;
  if (n === 0) return 1;
  const low = Math.min(wins, losses);
  const logFactorials = logFactorialTable(n);
  const logHalfPowN = -n * Math.LN2;
  let tail = 0;
  for (let k = 0; k <= low; k++) tail += Math.exp(logChoose(n, k, logFactorials) + logHalfPowN);
  return Math.min(1, 2 * tail);
}

/** Per-impression outcome in the treatment's favour: +1 win, 0 tie, -1 loss. */
export type Outcome = 1 | 0 | -1;

export interface BootstrapOptions {
  /** Resamples; default 2,000. */
  resamples?: number;
  /** Two-sided coverage; default 0.95. */
  level?: number;
  seed?: number;
}

/** A standard normal draw (Box-Muller) from uniform floats. */
function gaussian(uniform: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

/**
 * A Binomial(n, p) draw: by inversion (summing the probability mass from 0) while the mean is small, by the normal
 * approximation with continuity correction once n·p·(1−p) >= 25, where its error is far below a resample's noise.
 */
function binomialDraw(n: number, p: number, uniform: () => number): number {
  if (n <= 0 || p <= 0) return 0;
  if (p >= 1) return n;
  if (n * p * (1 - p) >= 25) {
    const x = Math.round(n * p + Math.sqrt(n * p * (1 - p)) * gaussian(uniform));
    return Math.min(n, Math.max(0, x));
  }
  if (p > 0.5) return n - binomialDraw(n, 1 - p, uniform);
  let u = uniform();
  let k = 0;
  let mass = (1 - p) ** n;
  while (u > mass && k < n) {
    u -= mass;
    mass *= ((n - k) / (k + 1)) * (p / (1 - p));
    k++;
  }
  return k;
}

/**
 * Percentile bootstrap interval for Δ = mean outcome over impressions with clicks. Resampling n impressions with
 * replacement is drawing the counts of the three outcomes from Multinomial(n; observed shares), done here as two
 * binomial draws, so a resample costs O(1) rather than O(n) and the report stays fast at millions of impressions.
 */
export function bootstrapDeltaInterval(
  wins: number,
  ties: number,
  losses: number,
  options: BootstrapOptions = {},
): [number, number] {
  const n = wins + ties + losses;
  if (n === 0) return [0, 0];
  const resamples = options.resamples ?? 2000;
  const level = options.level ?? 0.95;
  const uniform = mulberry32(options.seed ?? 42);
  const deltas = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    const w = binomialDraw(n, wins / n, uniform);
    const l = ties + losses === 0 ? 0 : binomialDraw(n - w, losses / (ties + losses), uniform);
    deltas[r] = (w - l) / n;
  }
  deltas.sort();
  const alpha = (1 - level) / 2;
  const at = (q: number) => deltas[Math.min(resamples - 1, Math.max(0, Math.floor(q * resamples)))]!;
  return [at(alpha), at(1 - alpha)];
}

/** Standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9). */
export function normalQuantile(p: number): number {
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239,
  ];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (
      (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) /
      ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1)
    );
  }
  if (p > 1 - low) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) /
    (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
  );
}

const Z_ALPHA = normalQuantile(1 - 0.05 / 2);
const Z_POWER80 = normalQuantile(0.8);

/**
 * Non-tied impressions a two-sided sign test at α = 0.05 needs for 80 % power when a non-tied impression is a win
 * with probability `winShare` (normal approximation of the binomial): n = ((z_α/2·½ + z_β·√(p(1−p))) / (p − ½))².
 * Infinity when there is no effect.
 */
export function signTestSampleSize(winShare: number): number {
  const effect = winShare - 0.5;
  if (effect === 0 || !Number.isFinite(effect)) return Number.POSITIVE_INFINITY;
  const numerator = Z_ALPHA * 0.5 + Z_POWER80 * Math.sqrt(winShare * (1 - winShare));
  return Math.ceil((numerator / effect) ** 2);
}

/**
 * Impressions (all, clicked or not) an interleaving experiment needs for 80 % power at the observed effect: the
 * non-tied impressions the sign test needs, scaled by the observed share of impressions that are decided. Undefined
 * when nothing is decided yet or the effect is zero.
 */
export function impressionsForPower(impressions: number, wins: number, losses: number): number | undefined {
  const decided = wins + losses;
  if (decided === 0 || wins === losses || impressions === 0) return undefined;
  return Math.ceil(signTestSampleSize(wins / decided) / (decided / impressions));
}

/**
 * Impressions per bucket a two-proportion z-test (α = 0.05 two-sided, 80 % power) needs to tell rates `p1` and
 * `p2` apart: the A/B comparison of click-through rates interleaving is measured against.
 */
export function twoProportionSampleSize(p1: number, p2: number): number {
  if (p1 === p2) return Number.POSITIVE_INFINITY;
  const mean = (p1 + p2) / 2;
  const numerator = Z_ALPHA * Math.sqrt(2 * mean * (1 - mean)) + Z_POWER80 * Math.sqrt(p1 * (1 - p1) + p2 * (1 - p2));
  return Math.ceil((numerator / (p1 - p2)) ** 2);
}
