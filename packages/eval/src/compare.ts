import { ValidationError } from '@dotrank/core';
import { strcmp } from '@dotrank/datasets';
import type { PValueCorrection } from './significance.js';
import { correctPValues, pairedTTest, randomizationTest, winTieLoss } from './significance.js';

/** Per-query values of one system: qid -> measure -> value (EvalResult.perQuery). */
export type PerQueryValues = ReadonlyMap<string, Readonly<Record<string, number>>>;

export interface CompareOptions {
  /** Randomization test trials; default 10000. */
  trials?: number;
  /** Randomization test seed; default 42. */
  seed?: number;
  /** Correction across the compared systems (per test); default 'none'. */
  correction?: PValueCorrection;
  /** Win/tie/loss tolerance; default 1e-9. */
  epsilon?: number;
}

export interface SystemComparison {
  system: string;
  measure: string;
  /** Queries paired: those both the baseline and the system were evaluated on. */
  queries: number;
  mean: number;
  baselineMean: number;
  /** mean - baselineMean over the paired queries. */
  delta: number;
  pValueTTest: number;
  pValueRandomization: number;
  wins: number;
  ties: number;
  losses: number;
}

function entriesOf<T>(map: ReadonlyMap<string, T> | Readonly<Record<string, T>>): [string, T][] {
  return map instanceof Map ? [...map.entries()] : Object.entries(map as Record<string, T>);
}

/**
 * Compares every system with the baseline on one measure, pairing queries both were evaluated on (sorted by
 * qid): delta of means, paired t-test and randomization test p-values (corrected across the systems when asked),
 * and wins/ties/losses. The baseline itself is not in the output.
 */
export function compareSystems(
  perQueryBySystem: ReadonlyMap<string, PerQueryValues> | Readonly<Record<string, PerQueryValues>>,
  baseline: string,
  measure: string,
  options: CompareOptions = {},
): SystemComparison[] {
  const systems = entriesOf(perQueryBySystem);
  const base = systems.find(([name]) => name === baseline)?.[1];
  if (!base)
    throw new ValidationError(
      'baseline',
      `system "${baseline}" not found (have: ${systems.map(([n]) => n).join(', ')})`,
    );
  const valueOf = (values: PerQueryValues, qid: string, system: string): number => {
    const v = values.get(qid)?.[measure];
    if (v === undefined)
      throw new ValidationError('measure', `"${measure}" missing for query ${qid} of system "${system}"`);
    return v;
  };
  const raw = systems
    .filter(([name]) => name !== baseline)
    .map(([system, values]) => {
      const qids = [...base.keys()].filter((q) => values.has(q)).sort(strcmp);
      const a = qids.map((q) => valueOf(values, q, system));
      const b = qids.map((q) => valueOf(base, q, baseline));
      const mean = a.length ? a.reduce((s, x) => s + x, 0) / a.length : 0;
      const baselineMean = b.length ? b.reduce((s, x) => s + x, 0) / b.length : 0;
      return {
        system,
        measure,
        queries: qids.length,
        mean,
        baselineMean,
        delta: mean - baselineMean,
        pValueTTest: pairedTTest(a, b).pValue,
        pValueRandomization: randomizationTest(a, b, { trials: options.trials, seed: options.seed }).pValue,
        ...winTieLoss(a, b, options.epsilon),
      };
    });
  const correction = options.correction ?? 'none';
  const t = correctPValues(
    raw.map((r) => r.pValueTTest),
    correction,
  );
  const rnd = correctPValues(
    raw.map((r) => r.pValueRandomization),
    correction,
  );
  return raw.map((r, i) => ({ ...r, pValueTTest: t[i]!, pValueRandomization: rnd[i]! }));
}
