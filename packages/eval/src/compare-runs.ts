import { ValidationError, mulberry32Uint } from '@dotrank/core';
import type { Qrels } from '@dotrank/datasets';
import type { EvalResult, RunLike } from './evaluate.js';
import { evaluate } from './evaluate.js';
import { isCountMeasure, parseMeasures } from './measures.js';
import type { PValueCorrection } from './significance.js';
import { correctPValues, pairedTTest, winTieLoss } from './significance.js';

export type SignificanceTest = 't' | 'randomization';

/** Trials per block of pairwiseRandomizationTest: the signs of a block take groups x 1,024 bytes. */
const TRIAL_BLOCK = 1024;

/**
 * The signs of `size` trials, in the order randomizationTest draws them: per trial, one 32-bit draw gives the signs of
 * 32 queries, bit (i & 31) for query i; the byte of group g in trial t goes to bytes[g * block + t].
 */
function drawSigns(nextBits: () => number, bytes: Uint8Array, groups: number, block: number, size: number): void {
  for (let t = 0; t < size; t++) {
    for (let g = 0; g < groups; g += 4) {
      const bits = nextBits();
      bytes[g * block + t] = bits & 255;
      if (g + 1 < groups) bytes[(g + 1) * block + t] = (bits >>> 8) & 255;
      if (g + 2 < groups) bytes[(g + 2) * block + t] = (bits >>> 16) & 255;
      if (g + 3 < groups) bytes[(g + 3) * block + t] = bits >>> 24;
    }
  }
}

/** One system's permuted sum in each trial of the block. */
function project(
  table: Float64Array,
  bytes: Uint8Array,
  groups: number,
  block: number,
  size: number,
  out: Float64Array,
): void {
  out.fill(0);
  let g = 0;
  // four groups at a time: a quarter of the loads and stores of `out` (the sums are exact integers: order is free)
  for (; g + 4 <= groups; g += 4) {
    const a = g * 256;
    const rowA = g * block;
    const rowB = rowA + block;
    const rowC = rowB + block;
    const rowD = rowC + block;
    for (let t = 0; t < size; t++) {
      out[t]! +=
        table[a + bytes[rowA + t]!]! +
        table[a + 256 + bytes[rowB + t]!]! +
        (table[a + 512 + bytes[rowC + t]!]! + table[a + 768 + bytes[rowD + t]!]!);
    }
  }
  for (; g < groups; g++) {
    const offset = g * 256;
    const row = g * block;
    for (let t = 0; t < size; t++) out[t]! += table[offset + bytes[row + t]!]!;
  }
}

/**
 * Paired two-sided randomization tests between every pair of systems at once, on the same queries.
 * `values[s][q]` is system s's value on query q. Returns `p[i][j]` (= `p[j][i]`; the diagonal is 1).
 *
 * Same test as randomizationTest (same seed, same sign of each query in each trial, p = (count + 1) / (trials + 1)),
 * made fast for many systems: the permuted sum of differences of a pair is the difference of the two systems'
 * permuted sums, so each trial projects every system once (not every pair), and 8 queries' signs index a
 * precomputed table of their 256 signed sums. Values are first scaled to integers (at most 2^52 in any sum, so
 * every sum is exact): `|permuted| >= |observed|` is then decided without rounding error, and the quantisation
 * (below 1e-12 of a value in [0, 1]) never changes a p-value except where two sums agree to within it.
 */
export function pairwiseRandomizationTest(
  values: readonly (readonly number[])[],
  options: { trials?: number; seed?: number } = {},
): number[][] {
  return randomizationPValues(values, options, new TestBuffers());
}

/**
 * The buffers of pairwiseRandomizationTest, kept for the next measure of a comparison: megabytes of typed arrays per
 * measure outside the heap made V8 collect the whole heap (gigabytes with the runs of a big comparison) again and again.
 */
class TestBuffers {
  tables = new Float64Array(0);
  bytes = new Uint8Array(0);
  projections = new Float64Array(0);
}

function randomizationPValues(
  values: readonly (readonly number[])[],
  options: { trials?: number; seed?: number },
  buffers: TestBuffers,
): number[][] {
  const trials = options.trials ?? 10_000;
  if (!Number.isSafeInteger(trials) || trials < 1)
    throw new ValidationError('trials', `must be a positive integer, got ${trials}`);
  const systems = values.length;
  const n = values[0]?.length ?? 0;
  for (const row of values) {
    if (row.length !== n) throw new ValidationError('scores', 'every system needs a value for every query');
    for (const v of row)
      if (!Number.isFinite(v)) throw new ValidationError('scores', 'every score must be a finite number');
  }
  const p = Array.from({ length: systems }, () => new Array<number>(systems).fill(1));
  if (n === 0 || systems < 2) return p;
  let maxAbs = 0;
  for (const row of values) for (const v of row) maxAbs = Math.max(maxAbs, Math.abs(v));
  if (maxAbs === 0) return p;
  // the largest power of two keeping every sum of n scaled values below 2^52 (exact in a double)
  const scale = 2 ** Math.floor(Math.log2(2 ** 52 / (n * maxAbs)));
  const quantised = values.map((row) => row.map((v) => Math.round(v * scale)));

  const groups = Math.ceil(n / 8);
  // tables[(s * groups + g) * 256 + byte]: sum over the 8 queries of group g of system s's ±value, bit t of byte set =
  // query 8g + t flipped
  if (buffers.tables.length < systems * groups * 256) buffers.tables = new Float64Array(systems * groups * 256);
  const tables = buffers.tables;
  quantised.forEach((row, s) => {
    for (let g = 0; g < groups; g++) {
      const base = g * 8;
      const offset = (s * groups + g) * 256;
      for (let byte = 0; byte < 256; byte++) {
        let sum = 0;
        for (let t = 0; t < 8 && base + t < n; t++) sum += byte & (1 << t) ? -row[base + t]! : row[base + t]!;
        tables[offset + byte] = sum;
      }
    }
  });
  const observed: number[][] = quantised.map((a) =>
    quantised.map((b) => Math.abs(a.reduce((s, x, i) => s + x - b[i]!, 0))),
  );
  const counts = Array.from({ length: systems }, () => new Float64Array(systems));
  const nextBits = mulberry32Uint(options.seed ?? 42);
  // Trials go in blocks, group-major: a system's 256-entry table of one group stays in the L1 cache while it serves
  // every trial of the block (trial-major, the tables of 10 systems x 5,000 queries - 12.8 MB - missed the cache on
  // every lookup: 9x slower at 5,000 queries than at 1,500).
  const block = Math.min(trials, TRIAL_BLOCK);
  if (buffers.bytes.length < groups * block) buffers.bytes = new Uint8Array(groups * block);
  if (buffers.projections.length < systems * block) buffers.projections = new Float64Array(systems * block);
  const bytes = buffers.bytes; // bytes[g * block + t]: the signs of group g in trial t
  const projections = quantised.map((_, s) => buffers.projections.subarray(s * block, (s + 1) * block));
  for (let first = 0; first < trials; first += block) {
    const size = Math.min(block, trials - first);
    drawSigns(nextBits, bytes, groups, block, size);
    for (let s = 0; s < systems; s++)
      project(tables.subarray(s * groups * 256, (s + 1) * groups * 256), bytes, groups, block, size, projections[s]!);
    for (let i = 0; i < systems; i++) {
      const row = counts[i]!;
      const obs = observed[i]!;
      const pi = projections[i]!;
      for (let j = i + 1; j < systems; j++) {
        const pj = projections[j]!;
        const o = obs[j]!;
        let count = 0;
        for (let t = 0; t < size; t++) if (Math.abs(pi[t]! - pj[t]!) >= o) count++;
        row[j]! += count;
      }
    }
  }
  for (let i = 0; i < systems; i++)
    for (let j = i + 1; j < systems; j++) p[i]![j] = p[j]![i] = (counts[i]![j]! + 1) / (trials + 1);
  return p;
}

export interface CompareRunsOptions {
  /** Measure names (trec_eval or ir_measures); see parseMeasures. */
  measures: readonly string[];
  /** The system the markers compare with; default the first. */
  baseline?: string;
  /** Which test decides the markers; default randomization. Both are computed for the report. */
  test?: SignificanceTest;
  /** Correction of the p-values: across systems vs the baseline, and across all pairs for the superscripts; default holm. */
  correction?: PValueCorrection;
  /** Significance level; default 0.05. */
  alpha?: number;
  trials?: number;
  seed?: number;
  /** trec_eval -l. */
  level?: number;
  /** trec_eval -J. */
  judgedOnly?: boolean;
  /** trec_eval -M. */
  maxResults?: number;
  /** Evaluate every query of the qrels (missing ones score 0); default the judged queries of any run. */
  allQueries?: boolean;
}

export interface ComparisonCell {
  mean: number;
  /** Against the baseline (absent for the baseline and count measures), corrected, of the chosen test. */
  pValue?: number;
  /** Significantly different from the baseline at alpha. */
  significant: boolean;
  /** Systems this one is significantly better than (all-pairs tests, corrected): ranx's superscripts. */
  beats: string[];
}

export interface BaselineSignificance {
  pValueTTest: number;
  pValueRandomization: number;
  wins: number;
  ties: number;
  losses: number;
  delta: number;
}

export interface RunComparison {
  systems: string[];
  measures: string[];
  baseline: string;
  /** The queries every system was evaluated on (strcmp order). */
  queries: string[];
  test: SignificanceTest;
  correction: PValueCorrection;
  alpha: number;
  trials: number;
  seed: number;
  level: number;
  results: Map<string, EvalResult>;
  /** cells[system][measure] */
  cells: Record<string, Record<string, ComparisonCell>>;
  /** significance[system][measure] against the baseline (both tests, corrected), for metrics.json. */
  significance: Record<string, Record<string, BaselineSignificance>>;
}

/**
 * Evaluates several runs on one query set and tests every pair: the table ranx's `compare` and PyTerrier's
 * `Experiment` print. Each system gets, per measure, its mean, the (corrected) p-value against the baseline and
 * the systems it beats significantly. All runs are evaluated on the same queries: the judged queries any run has
 * (each run scoring 0 where it has no results), or with `allQueries` every query of the qrels.
 */
export function compareRuns(
  qrels: Qrels,
  runs: readonly { name: string; run: RunLike }[],
  options: CompareRunsOptions,
): RunComparison {
  if (runs.length === 0) throw new ValidationError('runs', 'no run given');
  const names = runs.map((r) => r.name);
  const duplicate = names.find((n, i) => names.indexOf(n) !== i);
  if (duplicate !== undefined) throw new ValidationError('runs', `two runs are named "${duplicate}"`);
  const baseline = options.baseline ?? names[0]!;
  if (!names.includes(baseline))
    throw new ValidationError('baseline', `no run named "${baseline}" (runs: ${names.join(', ')})`);
  const measures = parseMeasures(options.measures);
  const test = options.test ?? 'randomization';
  const correction = options.correction ?? 'holm';
  const alpha = options.alpha ?? 0.05;
  const trials = options.trials ?? 10_000;
  const seed = options.seed ?? 42;
  const level = options.level ?? 1;

  let queries: string[];
  if (options.allQueries) queries = [...qrels.keys()];
  else {
    const union = new Set<string>();
    for (const { run } of runs) for (const qid of run.keys()) if (qrels.has(qid)) union.add(qid);
    queries = [...union];
  }
  const results = new Map<string, EvalResult>();
  for (const { name, run } of runs) {
    results.set(
      name,
      evaluate(qrels, run, {
        measures,
        level,
        queries,
        judgedOnly: options.judgedOnly,
        ...(options.maxResults !== undefined ? { maxResults: options.maxResults } : {}),
      }),
    );
  }
  const evaluated = [...results.get(baseline)!.perQuery.keys()];
  const comparison: RunComparison = {
    systems: names,
    measures,
    baseline,
    queries: evaluated,
    test,
    correction,
    alpha,
    trials,
    seed,
    level,
    results,
    cells: Object.fromEntries(names.map((n) => [n, {}])),
    significance: {},
  };
  const buffers = new TestBuffers();
  for (const measure of measures) testMeasure(comparison, measure, buffers);
  return comparison;
}

/** Fills one measure's cells: means, then (not for counts) the tests against the baseline and between all pairs. */
function testMeasure(c: RunComparison, measure: string, buffers: TestBuffers): void {
  const { systems: names, cells, baseline, correction, alpha, test } = c;
  const matrix = names.map((n) => {
    const perQuery = c.results.get(n)!.perQuery;
    return c.queries.map((q) => perQuery.get(q)![measure]!);
  });
  for (const n of names)
    cells[n]![measure] = { mean: c.results.get(n)!.aggregate[measure]!, significant: false, beats: [] };
  if (isCountMeasure(measure)) return;
  const randomization = randomizationPValues(matrix, { trials: c.trials, seed: c.seed }, buffers);
  const tTest = names.map((_, i) => names.map((__, j) => (i === j ? 1 : pairedTTest(matrix[i]!, matrix[j]!).pValue)));
  // against the baseline: one family of (systems - 1) tests per measure
  const baseIndex = names.indexOf(baseline);
  const others = names.map((_, i) => i).filter((i) => i !== baseIndex);
  const correctedT = correctPValues(
    others.map((i) => tTest[i]![baseIndex]!),
    correction,
  );
  const correctedR = correctPValues(
    others.map((i) => randomization[i]![baseIndex]!),
    correction,
  );
  others.forEach((i, k) => {
    const system = names[i]!;
    const cell = cells[system]![measure]!;
    cell.pValue = test === 't' ? correctedT[k]! : correctedR[k]!;
    cell.significant = cell.pValue < alpha;
    (c.significance[system] ??= {})[measure] = {
      pValueTTest: correctedT[k]!,
      pValueRandomization: correctedR[k]!,
      ...winTieLoss(matrix[i]!, matrix[baseIndex]!),
      delta: cell.mean - cells[baseline]![measure]!.mean,
    };
  });
  // superscripts: one family of all pairs per measure
  const pairs: [number, number][] = [];
  for (let i = 0; i < names.length; i++) for (let j = i + 1; j < names.length; j++) pairs.push([i, j]);
  const chosen = test === 't' ? tTest : randomization;
  const corrected = correctPValues(
    pairs.map(([i, j]) => chosen[i]![j]!),
    correction,
  );
  pairs.forEach(([i, j], k) => {
    if (corrected[k]! >= alpha) return;
    const a = cells[names[i]!]![measure]!;
    const b = cells[names[j]!]![measure]!;
    if (a.mean > b.mean) a.beats.push(names[j]!);
    else if (b.mean > a.mean) b.beats.push(names[i]!);
  });
}
