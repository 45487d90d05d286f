// Public API of @dotrank/bm25: the embedded, Lucene-exact BM25 engine.
export { BM25Index } from './bm25-index.js';
export type { BM25IndexOptions, BM25Hit, BM25SearchOptions, BM25Stats } from './bm25-index.js';
export { EmbeddedBM25Source, createEmbeddedSource } from './source.js';
export type { EmbeddedSourceOptions } from './source.js';
export { analyze, DEFAULT_MAX_TOKEN_LENGTH } from './analyzer.js';
export { DEFAULT_PARAMS, idf, avgFieldLength, normInverseCache, termScore, clauseWeight } from './similarity.js';
export type { BM25Params } from './similarity.js';
export { intToByte4, byte4ToInt, LENGTH_TABLE } from './small-float.js';
export { FORMAT_NAME, FORMAT_VERSION, ANALYZER_ID, hasSavedIndex, readSavedManifest } from './persist.js';
export type { Manifest } from './persist.js';
