// Public API of @dotrank/reranker-worker: what other projects use — the worker process (`dotrank worker`) and its
// metrics (the Grafana dashboard test). The queue itself (processor, warm producer) is @dotrank/rerank-core's.
export { runWorkerProcess } from './run.js';
export type { StartWorkerOptions } from './worker.js';
export { createMetrics } from './metrics.js';
export type { WorkerMetrics } from './metrics.js';
