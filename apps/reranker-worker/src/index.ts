// Public API of @dotrank/reranker-worker: the BullMQ worker process, its metrics, and the warm producer helper.
export { startWorker, rerankWorkerOptions } from './worker.js';
export type { StartWorkerOptions, RunningWorker } from './worker.js';
export { runWorkerProcess } from './run.js';
export { createMetrics, metricsObserver } from './metrics.js';
export type { WorkerMetrics } from './metrics.js';
export { enqueueWarm } from '@dotrank/rerank-core';
export type { WarmRun, WarmProgress, WarmRunOptions } from '@dotrank/rerank-core';
