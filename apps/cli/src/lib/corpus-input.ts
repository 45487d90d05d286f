import type { Passage } from '@dotrank/core';
import { readCorpus } from '@dotrank/datasets';
import type { CorpusFormat, MalformedLine, PassageLocation, ReadCorpusOptions } from '@dotrank/datasets';

/** What the last complete read of a corpus met: lines skipped under --skip-invalid, passages with blank text. */
export interface CorpusReadLog {
  skipped: MalformedLine[];
  blank: PassageLocation[];
}

export interface CorpusInputOptions {
  format?: CorpusFormat;
  fields?: ReadCorpusOptions['fields'];
  /** --skip-invalid: leave invalid lines out (each reported) instead of failing at the first. */
  skipInvalid?: boolean;
}

/** How many blank-text ids the warning names before summarising. */
const BLANK_ID_LIMIT = 20;

/**
 * A strict corpus reader for the commands: `read()` streams the passages (each call starts afresh, so a second
 * pass, such as a dense index built from the same corpus, does not count anything twice) and fills `log`.
 */
export function corpusInput(
  path: string,
  options: CorpusInputOptions,
): { read: () => AsyncIterable<Passage>; log: CorpusReadLog } {
  const log: CorpusReadLog = { skipped: [], blank: [] };
  const read = (): AsyncIterable<Passage> => {
    log.skipped = [];
    log.blank = [];
    return readCorpus(path, {
      ...(options.format ? { format: options.format } : {}),
      ...(options.fields ? { fields: options.fields } : {}),
      onInvalid: options.skipInvalid ? 'skip' : 'fail',
      onSkipped: (line) => log.skipped.push(line),
      onBlankText: (passage) => log.blank.push(passage),
    });
  };
  return { read, log };
}

/** Reads the corpus once without keeping it: a bad corpus fails before anything is written (`log` is filled). */
export async function checkCorpus(read: () => AsyncIterable<Passage>): Promise<number> {
  let passages = 0;
  for await (const passage of read()) if (passage) passages++;
  return passages;
}

/**
 * Every skipped line (`skipped <file>:<line>: <problem>`) and their count, then one warning naming the passages
 * with empty or whitespace-only text: real collections have them (Cranfield has two), so they are indexed.
 */
export function reportCorpusLog(log: CorpusReadLog, notice: (line: string) => void): void {
  for (const m of log.skipped) notice(`skipped ${m.file}:${m.line}: ${m.reason}`);
  if (log.skipped.length > 0)
    notice(`skipped ${log.skipped.length} invalid line${log.skipped.length === 1 ? '' : 's'} (--skip-invalid)`);
  if (log.blank.length === 0) return;
  const ids = log.blank.slice(0, BLANK_ID_LIMIT).map((p) => p.id);
  const more = log.blank.length > BLANK_ID_LIMIT ? ` and ${log.blank.length - BLANK_ID_LIMIT} more` : '';
  notice(
    `warning: ${log.blank.length} passage${log.blank.length === 1 ? ' has' : 's have'} empty or whitespace-only text (indexed; no query can match them): ${ids.join(', ')}${more}`,
  );
}
