// Public API of @dotrank/experiments: comparing BM25 and TAS-B on live traffic without judgments.
export { EXPERIMENT_MODES, SYSTEMS, EVENT_TYPES } from './types.js';
export type { ExperimentMode, SystemName, EventType, ShownResult, Impression, ExperimentEvent } from './types.js';
export { teamDraftInterleave, seedFrom, seededCoin } from './interleave.js';
export { ExperimentRunner, runExperiment } from './runner.js';
export type { ExperimentSettings, ExperimentPlan, ExperimentRequest, ExperimentOutcome } from './runner.js';
export { takeEvents, MAX_EVENTS_PER_REQUEST } from './events.js';
export { MemoryExperimentStore } from './store.js';
export type { ExperimentStore, StoreLimits } from './store.js';
export { RedisExperimentStore } from './redis-store.js';
export type { RedisStoreOptions, ImpressionWriteStats, ExperimentRedis } from './redis-store.js';
export { analyzeExperiment, summarizeShadow, creditOf, outcomeOf } from './analysis.js';
export type {
  Credit,
  ExperimentReport,
  QueryBreakdown,
  ShadowQuery,
  ShadowSummary,
  AnalysisOptions,
} from './analysis.js';
export { jaccardAt, rankBiasedOverlap, kendallTauUnion } from './overlap.js';
export {
  signTestPValue,
  bootstrapDeltaInterval,
  impressionsForPower,
  signTestSampleSize,
  twoProportionSampleSize,
  normalQuantile,
} from './stats.js';
export { simulateClicks, cascadeModel, positionBasedModel, gradedAttractiveness } from './simulate.js';
export type { ClickModel } from './simulate.js';
export {
  parseJudgment,
  judgmentsFileOf,
  queryIdOf,
  latestJudgments,
  formatQrels,
  formatJudgmentLog,
  formatJudgedQueries,
  nextToJudge,
  FileJudgmentStore,
  RedisJudgmentStore,
} from './judgments.js';
export type { Judgment, JudgmentStore, PoolItem } from './judgments.js';
