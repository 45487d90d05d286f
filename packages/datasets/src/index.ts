// Public API of @dotrank/datasets: readers and writers for corpora, queries, qrels and runs.
export { readCorpus, readQueries } from './corpus.js';
export type { CorpusFormat, PassageLocation, Query, ReadCorpusOptions } from './corpus.js';
export { readQrels, readRun, writeRun } from './trec.js';
export type { Qrels } from './trec.js';
// A run in columns (typed arrays, interned doc ids) for evaluating big runs: `dotrank measure`.
export { RunColumns, readRunColumns } from './trec-columns.js';
export type { QueryColumns } from './trec-columns.js';
export { findCollection } from './collection.js';
export type { CollectionFiles } from './collection.js';
// Documented for scripts (MS MARCO top1000 files, a run as text); no project of ours uses them.
export { formatRun } from './trec.js';
export { readTop1000 } from './top1000.js';
export type { Top1000Row } from './top1000.js';
export { strcmp, compareTrecOrder } from './order.js';
export type { InvalidLineOptions, MalformedLine } from './lines.js';
// Line-file reading for the CLI's own formats (encode): strict UTF-8, `file:line` errors, skip-and-report.
export { LineError, hasSpaceOrControl, parseLines } from './lines.js';
