// Public API of @dotrank/rerank-core: scoring and fusion, the rerank step, and the whole queue (wire protocol,
// producer, processor).
export type { RerankRequest, RankedItem, RerankTimings, RerankResult, RerankOptions, Reranker, Normalization } from './types.js';
export { RerankTimeoutError, RerankAbortedError, RerankJobFailedError, rerankDeadline } from './errors.js';
export { degradationFor } from './outcome.js';
export { DEFAULT_MAX_CANDIDATES, MAX_QUERY_BYTES, MAX_PASSAGE_BYTES, rerankRequestSchema, parseOrThrow, validateRerankRequest } from './schemas.js';
export {
  RERANK_JOB,
  WARM_JOB,
  EVENTS_MAX_LEN,
  queueNames,
  payloadKey,
  rerankJobSchema,
  payloadSchema,
  rerankColumnsSchema,
  warmJobSchema,
  encodeFailure,
  decodeFailure,
} from './wire.js';
export type { QueueNames, RerankJob, RerankColumns, WarmJob, WarmJobResult, WarmJobProgress, WireFailure } from './wire.js';
export { dot } from '@dotrank/core';
export { fuse, minMaxNormalize, zScoreNormalize, compareFused, DEFAULT_ALPHA, DEFAULT_NORMALIZATION, RRF_K } from './fusion.js';
export type { FusionInput, FusedItem, FuseOptions } from './fusion.js';
export { rerankCandidates, rerankKeyed, warmPassages, passageText, DEFAULT_BATCH_SIZE } from './pipeline.js';
export type { PipelineDeps, PipelineControl, PipelineObserver, WarmOptions, KeyedRerankRequest, KeyedRerankResult } from './pipeline.js';
export { InProcessReranker } from './in-process.js';
export type { InProcessRerankerOptions } from './in-process.js';
export type { QueueConnection, QueueConnections } from './connections.js';
export { QueueReranker, RERANK_JOB_OPTIONS } from './producer.js';
export type { QueueRerankerOptions } from './producer.js';
export { enqueueWarm, WARM_JOB_OPTIONS } from './warm-run.js';
export type { WarmRunOptions, WarmRun, WarmProgress } from './warm-run.js';
export { RerankProcessor, startRerankWorker } from './processor.js';
export type { RerankWorkerOptions, RerankWorker, RerankProcessorObserver, ProcessorLogger, JobType, JobStatus } from './processor.js';
