// Public API of @dotrank/bm25: the embedded, Lucene-exact BM25 engine.
export { BM25Index } from './bm25-index.js';
export { EmbeddedBM25Source, createEmbeddedSource } from './source.js';
export { hasSavedIndex } from './persist.js';
