// Public API of @dotrank/core: shared types, contracts, errors and configuration.
export type {
  Scalar,
  Passage,
  Candidate,
  SearchFilter,
  SearchOptions,
  IndexProgress,
  IndexOptions,
  IndexFailure,
  IndexReport,
  CandidateSource,
  Pooling,
  Similarity,
  DenseEncoder,
  FusionMode,
} from './types.js';
export { FUSION_MODES } from './types.js';
export {
  ERROR_CODES,
  DotrankError,
  ValidationError,
  ConfigError,
  NotFoundError,
  ModelError,
  UnavailableError,
  isDotrankError,
  describeError,
} from './errors.js';
export type { ErrorCode } from './errors.js';
export { configSchema, loadConfig, defaultIntraOpThreads, workerConcurrency, findRepoRoot } from './config.js';
export type { DotrankConfig } from './config.js';
export { DEGRADED_REASONS } from './contracts.js';
export type { DegradedReason, Degradation, StageTimings, HitMeta, ResponseMeta } from './contracts.js';
export { withDeadline, DeadlineError, AbortedError } from './deadline.js';
export type { DeadlineOptions } from './deadline.js';
export { matchesFilter } from './filter.js';
export { dot, dotAt } from './vector-math.js';
export { DotKernel } from './dot-kernel.js';
export type { RowScorer } from './dot-kernel.js';
export { TopK } from './top-k.js';
export { mulberry32, mulberry32Uint, mulberry32Step } from './random.js';
export { float32ToFloat16Bits, float16BitsToFloat32 } from './float16.js';
export { MAX_QUERY_BYTES, MAX_PASSAGE_BYTES, validateK, pathExists } from './limits.js';
