// Public API of @dotrank/rerank-core: scoring and fusion, the rerank step, and the whole queue (wire protocol,
// producer, processor).
export type {
  RerankRequest,
  RankedItem,
  BestPassage,
  RerankTimings,
  RerankResult,
  RerankOptions,
  Reranker,
  Normalization,
} from './types.js';
export { RerankTimeoutError, RerankJobFailedError } from './errors.js';
export { degradationFor } from './outcome.js';
export { fuse, DEFAULT_ALPHA } from './fusion.js';
export type { FusionColumns, FuseOptions } from './fusion.js';
export { aggregateWindows, docScoreName, parseDocScore, usesWindows, DOC_SCORE_NAMES } from './doc-score.js';
export type { DocScore, DocScoreMode } from './doc-score.js';
export { rerankCandidates, warmPassages } from './pipeline.js';
export type { CandidateWindows } from './pipeline.js';
export { candidateWindowsFor, passageWindowSettingsFromConfig } from './windows.js';
export type { PassageWindowSettings } from './windows.js';
export { InProcessReranker } from './in-process.js';
export { LoadShedder, OverloadedError } from './shedding.js';
export { QueueReranker } from './producer.js';
export { enqueueWarm } from './warm-run.js';
export type { WarmProgress } from './warm-run.js';
export { startRerankWorker } from './processor.js';
export type { RerankWorkerOptions, RerankProcessorObserver } from './processor.js';
