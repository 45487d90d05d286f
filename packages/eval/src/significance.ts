import { ValidationError, mulberry32Uint } from '@dotrank/core';

// ---------- Student t distribution via the regularized incomplete beta function ----------

// Lanczos approximation (g = 7, n = 9) of ln Γ(x), x > 0; relative error ~1e-15.
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln Γ(x) for x > 0. */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let a = LANCZOS[0]!;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i]! / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

// Continued fraction for the incomplete beta (modified Lentz), valid for x < (a + 1) / (a + b + 2).
function betaContinuedFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 10_000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return h;
}

/** The regularized incomplete beta function I_x(a, b), a, b > 0, 0 <= x <= 1. */
export function regularizedIncompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  if (x < (a + 1) / (a + b + 2)) return (front * betaContinuedFraction(a, b, x)) / a;
  return 1 - (front * betaContinuedFraction(b, a, 1 - x)) / b;
}

/** Two-sided p-value of Student's t with `df` degrees of freedom: P(|T| >= |t|) = I_{df/(df+t²)}(df/2, 1/2). */
export function studentTTwoSidedP(t: number, df: number): number {
  if (Number.isNaN(t) || df <= 0) return Number.NaN;
  if (!Number.isFinite(t)) return 0;
  return regularizedIncompleteBeta(df / (df + t * t), df / 2, 0.5);
}

function checkPaired(a: readonly number[], b: readonly number[]): void {
  if (a.length !== b.length)
    throw new ValidationError('scores', `paired samples differ in length (${a.length} vs ${b.length})`);
  for (const v of [...a, ...b])
    if (!Number.isFinite(v)) throw new ValidationError('scores', 'every score must be a finite number');
}

export interface TTestResult {
  t: number;
  df: number;
  pValue: number;
}

/**
 * Paired two-sided Student t-test on a - b. Fewer than two pairs: t NaN, p 1. All differences equal:
 * t = 0 and p = 1 when they are 0, else t = ±Infinity and p = 0.
 */
export function pairedTTest(a: readonly number[], b: readonly number[]): TTestResult {
  checkPaired(a, b);
  const n = a.length;
  const df = n - 1;
  if (n < 2) return { t: Number.NaN, df: Math.max(df, 0), pValue: 1 };
  const d = a.map((x, i) => x - b[i]!);
  const mean = d.reduce((s, x) => s + x, 0) / n;
  const variance = d.reduce((s, x) => s + (x - mean) ** 2, 0) / df;
  if (variance === 0) {
    if (mean === 0) return { t: 0, df, pValue: 1 };
    return { t: mean > 0 ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY, df, pValue: 0 };
  }
  const t = mean / Math.sqrt(variance / n);
  return { t, df, pValue: studentTTwoSidedP(t, df) };
}

// ---------- randomization (permutation) test ----------

export interface RandomizationOptions {
  trials?: number;
  seed?: number;
}

/**
 * Paired randomization test (Fisher; Smucker et al. 2007), two-sided: each trial flips the sign of every
 * per-query difference with probability 1/2 and counts |mean| >= |observed mean|.
 * p = (count + 1) / (trials + 1), so it is never 0. Deterministic for a given seed.
 */
export function randomizationTest(
  a: readonly number[],
  b: readonly number[],
  options: RandomizationOptions = {},
): { pValue: number } {
  checkPaired(a, b);
  const trials = options.trials ?? 10_000;
  if (!Number.isSafeInteger(trials) || trials < 1)
    throw new ValidationError('trials', `must be a positive integer, got ${trials}`);
  const nextBits = mulberry32Uint(options.seed ?? 42);
  const n = a.length;
  if (n === 0) return { pValue: 1 };
  const d = a.map((x, i) => x - b[i]!);
  const observed = Math.abs(d.reduce((s, x) => s + x, 0));
  // compare sums (same as means for fixed n); a relative tolerance absorbs summation-order rounding
  const threshold = observed - 1e-12 * Math.max(1, observed);
  let count = 0;
  for (let trial = 0; trial < trials; trial++) {
    // one 32-bit draw gives the signs of 32 queries
    let sum = 0;
    let bits = 0;
    for (let i = 0; i < n; i++) {
      if ((i & 31) === 0) bits = nextBits();
      sum += bits & 1 ? -d[i]! : d[i]!;
      bits >>>= 1;
    }
    if (Math.abs(sum) >= threshold) count++;
  }
  return { pValue: (count + 1) / (trials + 1) };
}

export interface WinTieLoss {
  wins: number;
  ties: number;
  losses: number;
}

/** Counts queries where a beats b by more than epsilon (wins), loses by more than epsilon (losses), else ties. */
export function winTieLoss(a: readonly number[], b: readonly number[], epsilon = 1e-9): WinTieLoss {
  checkPaired(a, b);
  const out: WinTieLoss = { wins: 0, ties: 0, losses: 0 };
  for (let i = 0; i < a.length; i++) {
    const diff = a[i]! - b[i]!;
    if (diff > epsilon) out.wins++;
    else if (diff < -epsilon) out.losses++;
    else out.ties++;
  }
  return out;
}

export type PValueCorrection = 'bonferroni' | 'holm' | 'none';

/** Multiple-comparison correction of a family of p-values, returned in the input order (each capped at 1). */
export function correctPValues(ps: readonly number[], method: PValueCorrection): number[] {
  const m = ps.length;
  switch (method) {
    case 'none':
      return [...ps];
    case 'bonferroni':
      return ps.map((p) => Math.min(1, p * m));
    case 'holm': {
      // step-down: sorted ascending, adjusted_(i) = max_{j <= i} min(1, (m - j) * p_(j)) with j 0-based
      const order = ps.map((p, i) => ({ p, i })).sort((x, y) => x.p - y.p || x.i - y.i);
      const out = new Array<number>(m);
      let running = 0;
      order.forEach(({ p, i }, rank) => {
        running = Math.max(running, Math.min(1, (m - rank) * p));
        out[i] = running;
      });
      return out;
    }
    default:
      throw new ValidationError('correction', `must be bonferroni, holm or none, got ${String(method)}`);
  }
}
