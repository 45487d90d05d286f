// Public API of @dotrank/dense: exact and HNSW inner-product search (hnswlib or built-in JS), the dense and hybrid first stages.
export { exactSearch, exactSearchShards, blockDot, BLOCK_ROWS } from './exact.js';
export type { MatrixShard } from './exact.js';
export type { VectorHit } from './exact.js';
export { TopK } from '@dotrank/core';
export { HnswIndex } from './hnsw.js';
export type { HnswState } from './hnsw.js';
export { HnswlibIndex } from './hnswlib.js';
export type { RowReader } from './hnswlib.js';
export { ANN_BACKENDS, HNSW_DEFAULTS, loadHnswlib, resolveAnnBackend, validateHnswParams } from './ann.js';
export type { AnnBackend, AnnBackendChoice, AnnGraph, HnswParams, HnswlibLoader, HnswlibModule, HnswlibNative, ResolvedAnn } from './ann.js';
export { VectorMatrix, DENSE_FORMAT, DENSE_FORMAT_VERSION, HNSWLIB_FILE } from './matrix.js';
export type { StoredDoc, DenseManifest } from './matrix.js';
export { DenseSource, createDenseSource, passageText } from './source.js';
export type { DenseSourceOptions, DenseSearchMode } from './source.js';
export { HybridSource, fuseCandidates } from './hybrid.js';
export type { HybridCandidate, HybridFusion, HybridSourceOptions } from './hybrid.js';
export { openFirstStage, denseDirFor, FIRST_STAGES } from './first-stage.js';
export type { FirstStage, FirstStageOptions } from './first-stage.js';
