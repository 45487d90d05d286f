// Public API of @dotrank/dense: opening a first stage (bm25, dense with exact or HNSW search, hybrid) by name.
export { openFirstStage, FIRST_STAGES } from './first-stage.js';
export type { FirstStage } from './first-stage.js';
