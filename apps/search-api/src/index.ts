// Public API of @dotrank/search-api.
export { buildServer } from './server.js';
export { dashboardPlugin, ensureDashboardBuilt, dashboardFixCommand } from './dashboard.js';
export type { DashboardBuild, DashboardBuilder, DashboardSource, EnsureDashboardOptions } from './dashboard.js';
export { startServer } from './start.js';
/** REDIS_URL as ioredis options: the one connection factory's (vector-cache). */
export { redisOptionsFromUrl } from '@dotrank/vector-cache';
export type { StartFlags, RunningServer } from './start.js';
export { parseSearchParams, MAX_QUERY_BYTES, MAX_K } from './validation.js';
export type { SearchParams } from './validation.js';
export { runSearch, rerankWithDeadline } from './search.js';
export type { SearchResponse, SearchHit, RerankOutcome } from './search.js';
export { listEvals, parseTrecRun } from './evals.js';
export { ApiMetrics, StatsRing, percentile } from './metrics.js';
export type {
  RerankerLike,
  RerankRequest,
  RerankResult,
  RankedItem,
  RerankTimings,
  QueueStats,
  ReadinessCheck,
  ProxyTarget,
  ServerDeps,
  ServerOptions,
} from './types.js';
