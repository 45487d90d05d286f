// Public API of @dotrank/eval: trec_eval-exact measures, significance tests and comparison reports.
export { evaluate } from './evaluate.js';
export type { EvalResult, EvaluateOptions, RunLike } from './evaluate.js';
export { parseMeasures, parseMeasureList, measureLabel, isCountMeasure, DEFAULT_MEASURES, DEFAULT_CUTOFFS } from './measures.js';
export type { Measure, MeasureFamily } from './measures.js';
export { formatTrecEval, formatLine, formatFixed4 } from './format.js';
export {
  pairedTTest,
  randomizationTest,
  winTieLoss,
  correctPValues,
  studentTTwoSidedP,
  regularizedIncompleteBeta,
  logGamma,
} from './significance.js';
export type { TTestResult, RandomizationOptions, WinTieLoss, PValueCorrection } from './significance.js';
export { compareSystems } from './compare.js';
export type { CompareOptions, SystemComparison, PerQueryValues } from './compare.js';
export {
  buildMetricsReport,
  recallCurve,
  metricsReportSchema,
  systemReportSchema,
  significanceSchema,
  firstStageRecallSchema,
  RECALL_DEPTHS,
} from './report.js';
export type { MetricsReport, SystemReport, SignificanceReport, FirstStageRecall, BuildMetricsReportInput } from './report.js';
