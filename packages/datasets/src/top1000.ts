import type { InvalidLineOptions } from './lines.js';
import { LineError, parseLines } from './lines.js';

/** One row of an MS MARCO `top1000.*.tsv` file. */
export interface Top1000Row {
  queryId: string;
  docId: string;
  query: string;
  passage: string;
}

/** Streams an MS MARCO `top1000` file: `qid<TAB>pid<TAB>query<TAB>passage`. */
export function readTop1000(path: string, options: InvalidLineOptions = {}): AsyncGenerator<Top1000Row> {
  return parseLines(
    path,
    (text) => {
      const columns = text.split('\t');
      if (columns.length !== 4) throw new LineError(`expected 4 tab-separated columns (qid, pid, query, passage), found ${columns.length}`);
      const [queryId, docId, query, passage] = columns as [string, string, string, string];
      if (queryId.trim() === '' || docId.trim() === '') throw new LineError('empty query or passage id');
      return { queryId: queryId.trim(), docId: docId.trim(), query, passage };
    },
    options,
  );
}
