// Public API of @dotrank/datasets: readers and writers for corpora, queries, qrels and runs.
export { readCorpus, readQueries, inferCorpusFormat } from './corpus.js';
export type { CorpusFormat, CorpusFields, ReadCorpusOptions, Query } from './corpus.js';
export { readQrels, readRun, formatRun, writeRun, runLines } from './trec.js';
export type { Qrels, Run, RunEntry, RunInput } from './trec.js';
export { findCollection } from './collection.js';
export type { CollectionFiles } from './collection.js';
export { readTop1000 } from './top1000.js';
export type { Top1000Row } from './top1000.js';
export { strcmp, compareTrecOrder } from './order.js';
export type { MalformedLine, OnMalformed } from './lines.js';
