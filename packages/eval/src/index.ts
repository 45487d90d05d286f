// Public API of @dotrank/eval: trec_eval-exact measures (with ir_measures names) and their text output, multi-run
// comparison with significance tests, presets of the model card's protocol, and the metrics report.
export { evaluate } from './evaluate.js';
export type { EvalResult, EvaluableRun, EvaluateOptions, RunLike } from './evaluate.js';
export {
  parseMeasures,
  parseMeasureList,
  measureLabel,
  isCountMeasure,
  DEFAULT_MEASURES,
  MEASURE_FORMS,
} from './measures.js';
export type { Measure, MeasureFamily } from './measures.js';
export { MEASURE_PRESETS, PRESET_NAMES, presetMeasures, resolveMeasures } from './presets.js';
export type { MeasurePreset } from './presets.js';
export { formatTrecEval, formatFixed4 } from './format.js';
export { compareRuns, pairwiseRandomizationTest } from './compare-runs.js';
export type { CompareRunsOptions, ComparisonCell, RunComparison, SignificanceTest } from './compare-runs.js';
export { formatComparison, COMPARISON_FORMATS, systemLetter } from './comparison-format.js';
export type { ComparisonFormat } from './comparison-format.js';
export { pairedTTest, randomizationTest, correctPValues } from './significance.js';
export type { PValueCorrection } from './significance.js';
export { buildMetricsReport, recallCurve, metricsReportSchema } from './report.js';
export type { MetricsReport } from './report.js';
