import { z } from 'zod';
import type { Qrels } from '@dotrank/datasets';
import type { CompareOptions } from './compare.js';
import { compareSystems } from './compare.js';
import type { EvalResult, RunLike } from './evaluate.js';
import { evaluate } from './evaluate.js';
import { isCountMeasure } from './measures.js';

const measureValues = z.record(z.string(), z.number());

export const significanceSchema = z.object({
  pValueTTest: z.number().min(0).max(1),
  pValueRandomization: z.number().min(0).max(1),
  wins: z.number().int().nonnegative(),
  ties: z.number().int().nonnegative(),
  losses: z.number().int().nonnegative(),
  delta: z.number(),
});

export const systemReportSchema = z.object({
  aggregate: measureValues,
  perQuery: z.record(z.string(), measureValues),
  /** Absent for the baseline. */
  significance: z.record(z.string(), significanceSchema).optional(),
});

export const firstStageRecallSchema = z.object({
  depths: z.array(z.number().int().positive()),
  recall: z.array(z.number().min(0).max(1)),
});

/** The `metrics.json` written by evaluation runs and read by the dashboard. */
export const metricsReportSchema = z.object({
  version: z.literal(1),
  collection: z.object({
    name: z.string(),
    queries: z.number().int().nonnegative(),
    documents: z.number().int().nonnegative(),
  }),
  createdAt: z.string(),
  model: z.object({ id: z.string(), revision: z.string() }).nullable(),
  depth: z.number().int().positive(),
  level: z.number().int().nonnegative(),
  baseline: z.string(),
  measures: z.array(z.string()),
  systems: z.record(z.string(), systemReportSchema),
  firstStageRecall: z.record(z.string(), firstStageRecallSchema),
  /** How significance was computed (optional, added by buildMetricsReport). */
  significanceTest: z
    .object({
      trials: z.number().int().positive(),
      seed: z.number().int(),
      correction: z.enum(['bonferroni', 'holm', 'none']),
    })
    .optional(),
});

export type MetricsReport = z.infer<typeof metricsReportSchema>;
export type FirstStageRecall = z.infer<typeof firstStageRecallSchema>;

/** Depths of the first-stage recall curve. */
export const RECALL_DEPTHS = [10, 20, 50, 100, 200, 500, 1000] as const;

/** Mean recall at each depth (trec_eval `recall.k` averages) of a first-stage run. */
export function recallCurve(
  qrels: Qrels,
  run: RunLike,
  options: { depths?: readonly number[]; level?: number; allQueries?: boolean } = {},
): FirstStageRecall {
  const depths = [...(options.depths ?? RECALL_DEPTHS)];
  const result = evaluate(qrels, run, {
    measures: depths.map((d) => `recall_${d}`),
    level: options.level,
    allQueries: options.allQueries,
  });
  return { depths, recall: depths.map((d) => result.aggregate[`recall_${d}`]!) };
}

export interface BuildMetricsReportInput {
  collection: { name: string; queries: number; documents: number };
  model: { id: string; revision: string } | null;
  /** Candidate depth (first-stage k). */
  depth: number;
  level: number;
  /** Default 'bm25'. */
  baseline?: string;
  /** Measures to report; default the baseline's EvalResult.measures. */
  measures?: string[];
  systems: ReadonlyMap<string, EvalResult> | Readonly<Record<string, EvalResult>>;
  firstStageRecall?: Record<string, FirstStageRecall>;
  createdAt?: Date | string;
  significance?: CompareOptions;
  /**
   * Significance already computed (e.g. by compareRuns): system -> measure -> values, used as given instead of
   * testing each system against the baseline here.
   */
  significanceBySystem?: Record<string, Record<string, z.infer<typeof significanceSchema>>>;
}

/**
 * Builds (and validates) the metrics.json structure: per system its aggregate and per-query values, and for every
 * non-baseline system the significance of each non-count measure against the baseline.
 */
export function buildMetricsReport(input: BuildMetricsReportInput): MetricsReport {
  const systems =
    input.systems instanceof Map
      ? new Map(input.systems)
      : new Map(Object.entries(input.systems as Record<string, EvalResult>));
  const baseline = input.baseline ?? 'bm25';
  const baseResult = systems.get(baseline);
  const measures: string[] = input.measures ?? baseResult?.measures ?? [...systems.values()][0]?.measures ?? [];
  const trials = input.significance?.trials ?? 10_000;
  const seed = input.significance?.seed ?? 42;
  const correction = input.significance?.correction ?? 'none';
  const out: MetricsReport['systems'] = {};
  for (const [name, result] of systems) {
    const perQuery: Record<string, Record<string, number>> = {};
    for (const [qid, values] of result.perQuery)
      perQuery[qid] = Object.fromEntries(measures.map((m) => [m, values[m] ?? 0]));
    out[name] = { aggregate: Object.fromEntries(measures.map((m) => [m, result.aggregate[m] ?? 0])), perQuery };
  }
  if (input.significanceBySystem) {
    for (const [system, byMeasure] of Object.entries(input.significanceBySystem)) {
      if (out[system]) out[system].significance = { ...byMeasure };
    }
  } else if (baseResult) {
    const perQueryBySystem = new Map([...systems].map(([name, r]) => [name, r.perQuery]));
    for (const measure of measures.filter((m) => !isCountMeasure(m))) {
      for (const c of compareSystems(perQueryBySystem, baseline, measure, {
        trials,
        seed,
        correction,
        epsilon: input.significance?.epsilon,
      })) {
        const report = out[c.system]!;
        report.significance ??= {};
        report.significance[measure] = {
          pValueTTest: c.pValueTTest,
          pValueRandomization: c.pValueRandomization,
          wins: c.wins,
          ties: c.ties,
          losses: c.losses,
          delta: c.delta,
        };
      }
    }
  }
  const createdAt =
    input.createdAt === undefined
      ? new Date().toISOString()
      : typeof input.createdAt === 'string'
        ? input.createdAt
        : input.createdAt.toISOString();
  return metricsReportSchema.parse({
    version: 1,
    collection: input.collection,
    createdAt,
    model: input.model,
    depth: input.depth,
    level: input.level,
    baseline,
    measures,
    systems: out,
    firstStageRecall: input.firstStageRecall ?? {},
    significanceTest: { trials, seed, correction },
  });
}
