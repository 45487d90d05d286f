// Public API of @dotrank/rerank-core: scoring and fusion, the rerank pipeline step, job schemas, queue producer.
export type { RerankRequest, RankedItem, RerankTimings, RerankResult, RerankOptions, Reranker, Normalization } from './types.js';
export { RerankTimeoutError, RerankAbortedError } from './errors.js';
export {
  DEFAULT_MAX_CANDIDATES,
  MAX_QUERY_BYTES,
  MAX_PASSAGE_BYTES,
  rerankRequestSchema,
  rerankJobSchema,
  rerankEnvelopeSchema,
  candidateLookupSchema,
  isRerankEnvelope,
  payloadKeyFor,
  rerankResultSchema,
  rerankColumnsResultSchema,
  warmJobSchema,
  parseOrThrow,
  validateRerankRequest,
  queueNames,
} from './schemas.js';
export type { RerankJobData, RerankEnvelope, CandidateLookup, RerankJobResult, RerankColumnsResult, WarmJobData, WarmJobResult } from './schemas.js';
export { dot } from '@dotrank/core';
export { fuse, minMaxNormalize, zScoreNormalize, compareFused, DEFAULT_ALPHA, DEFAULT_NORMALIZATION, RRF_K } from './fusion.js';
export type { FusionInput, FusedItem, FuseOptions } from './fusion.js';
export { rerankCandidates, rerankKeyed, warmPassages, passageText, DEFAULT_BATCH_SIZE } from './pipeline.js';
export type { PipelineDeps, PipelineControl, PipelineObserver, WarmOptions, KeyedRerankRequest, KeyedRerankResult } from './pipeline.js';
export { InProcessReranker } from './in-process.js';
export type { InProcessRerankerOptions } from './in-process.js';
export {
  QueueReranker,
  enqueueWarm,
  toConnection,
  RERANK_JOB,
  WARM_JOB,
  RERANK_JOB_OPTIONS,
  WARM_JOB_OPTIONS,
  EVENTS_MAX_LEN,
} from './queue.js';
export type { QueueRerankerOptions, QueueConnection, WarmRunOptions, WarmRun, WarmProgress } from './queue.js';
