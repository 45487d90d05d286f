// Public API of @dotrank/eval: trec_eval-exact measures and their text output, and the metrics report (comparison,
// significance tests, first-stage recall).
export { evaluate } from './evaluate.js';
export type { EvalResult } from './evaluate.js';
export { parseMeasures, measureLabel, DEFAULT_MEASURES } from './measures.js';
export { formatTrecEval } from './format.js';
export { buildMetricsReport, recallCurve, metricsReportSchema } from './report.js';
export type { MetricsReport } from './report.js';
