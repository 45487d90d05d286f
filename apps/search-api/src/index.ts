// Public API of @dotrank/search-api: what the CLI (`dotrank serve`, quickstart) and the end-to-end tests use.
export { buildServer } from './server.js';
export type { ServerDeps, ServerOptions } from './types.js';
export { startServer } from './start.js';
export type { StartFlags, RunningServer } from './start.js';
export { ApiMetrics } from './metrics.js';
