import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { ValidationError } from '@dotrank/core';
import { findCollection } from './collection.js';
import { parseJsonObject } from './corpus.js';
import type { InvalidLineOptions } from './lines.js';
import { LineError, forEachLine, innerName, splitWhitespace, statOrThrow } from './lines.js';
import { compareTrecOrder } from './order.js';
import { readTrecQrelsFast, readTrecRunFast } from './trec-fast.js';

/** Judgments: query id -> document id -> relevance grade. */
export type Qrels = Map<string, Map<string, number>>;

export interface RunEntry {
  docId: string;
  score: number;
  rank: number;
}

/** A ranking run: query id -> entries in file order. */
export type Run = Map<string, RunEntry[]>;

/** What `formatRun`/`writeRun` need: the rank column is recomputed from the trec_eval order. */
export type RunInput = ReadonlyMap<string, readonly { docId: string; score: number }[]>;

const INTEGER = /^[+-]?\d+$/;

function parseIntegerColumn(value: string, what: string): number {
  if (!INTEGER.test(value)) throw new LineError(`${what} must be an integer, got "${value}"`);
  return Number(value);
}

/**
 * Reads judgments: TREC qrels (`qid iter docid rel`) or BEIR TSV (`query-id corpus-id score`, header optional),
 * auto-detected from the first line; columns may be separated by tabs or spaces; `#` lines are comments. A folder means its qrels file
 * (see findCollection). Duplicate (qid, docid) pairs, mixed layouts and non-integer grades are errors.
 */
export async function readQrels(path: string, options: InvalidLineOptions = {}): Promise<Qrels> {
  let file = path;
  if ((await statOrThrow(path)).isDirectory) file = (await findCollection(path, { require: ['qrels'] })).qrels;
  const json = isJsonLines(file);
  if (!json) {
    const fast = await readTrecQrelsFast(file); // the usual file; anything unusual is read (and reported) below
    if (fast) return fast;
  }
  const qrels: Qrels = new Map();
  const seenAt = new Map<string, number>();
  let columns = 0;
  const parse = (text: string, line: number): null | undefined => {
    if (json) {
      const record = parseJsonObject(text);
      add(stringField(record, 'query_id'), stringField(record, 'doc_id'), integerField(record, 'relevance'), line);
      return null;
    }
    const parts = splitWhitespace(text);
    if (parts[0]!.startsWith('#')) return undefined; // trec_eval skips comment lines
    if (columns === 0) {
      if (parts.length === 3 && !INTEGER.test(parts[2]!)) {
        columns = 3; // a BEIR header line such as `query-id corpus-id score`
        return undefined;
      }
      if (parts.length !== 3 && parts.length !== 4) throw new LineError(`expected "qid 0 docid rel" (TREC) or "query-id corpus-id score" (BEIR), found ${parts.length} columns`);
      columns = parts.length;
    }
    if (parts.length !== columns) throw new LineError(`expected ${columns} columns like the first line, found ${parts.length}`);
    add(parts[0]!, columns === 4 ? parts[2]! : parts[1]!, parseIntegerColumn(columns === 4 ? parts[3]! : parts[2]!, 'relevance'), line);
    return null;
  };
  const add = (qid: string, docId: string, rel: number, line: number): void => {
    const key = `${qid}\u0000${docId}`;
    const previous = seenAt.get(key);
    if (previous !== undefined) throw new LineError(`duplicate judgment for query ${qid}, document ${docId} (first on line ${previous})`);
    seenAt.set(key, line);
    let docs = qrels.get(qid);
    if (!docs) qrels.set(qid, (docs = new Map()));
    docs.set(docId, rel);
  };
  await forEachLine(file, parse, options); // parse() fills qrels as it goes
  return qrels;
}

/**
 * Reads a TREC run (`qid Q0 docid rank score tag`, tabs or spaces; `#` comment lines and columns after the
 * sixth are ignored, as trec_eval does). Entries keep file order; the rank column is kept but trec_eval ignores it. A docid repeated within a query is an error (trec_eval refuses it too).
 */
export async function readRun(path: string, options: InvalidLineOptions = {}): Promise<Run> {
  const json = isJsonLines(path);
  if (!json) {
    const fast = await readTrecRunFast(path); // the usual file; anything unusual is read (and reported) below
    if (fast) return fast;
  }
  const run: Run = new Map();
  const seen = new Map<string, Map<string, number>>();
  const parse = (text: string, line: number): null | undefined => {
    if (json) {
      // ir_datasets scoreddocs export: {"query_id", "doc_id", "score"}; the rank is the line's place in its query
      const record = parseJsonObject(text);
      const qid = stringField(record, 'query_id');
      add(qid, stringField(record, 'doc_id'), numberField(record, 'score'), (run.get(qid)?.length ?? 0) + 1, line);
      return null;
    }
    const parts = splitWhitespace(text);
    if (parts[0]!.startsWith('#')) return undefined; // trec_eval skips comment lines
    // trec_eval ignores anything after the sixth column
    if (parts.length < 6) throw new LineError(`expected 6 columns "qid Q0 docid rank score tag", found ${parts.length}`);
    const [qid, , docId, rankText, scoreText] = parts as [string, string, string, string, string, string];
    const rank = parseIntegerColumn(rankText, 'rank');
    const score = Number(scoreText);
    if (scoreText.trim() === '' || !Number.isFinite(score)) throw new LineError(`score must be a finite number, got "${scoreText}"`);
    add(qid, docId, score, rank, line);
    return null;
  };
  const add = (qid: string, docId: string, score: number, rank: number, line: number): void => {
    let docs = seen.get(qid);
    if (!docs) seen.set(qid, (docs = new Map()));
    const previous = docs.get(docId);
    if (previous !== undefined) throw new LineError(`duplicate document ${docId} for query ${qid} (first on line ${previous})`);
    docs.set(docId, line);
    let entries = run.get(qid);
    if (!entries) run.set(qid, (entries = []));
    entries.push({ docId, score, rank });
  };
  await forEachLine(path, parse, options); // parse() fills run as it goes
  return run;
}

/** JSON Lines by name (`.jsonl`, `.jsonl.gz`): ir_datasets' `export --format jsonl`. */
function isJsonLines(path: string): boolean {
  return innerName(path).toLowerCase().endsWith('.jsonl');
}

function stringField(record: Record<string, unknown>, field: string): string {
  const value = record[field];
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value !== 'string' || value.trim() === '' || /\s/.test(value))
    throw new LineError(value === undefined ? `missing field "${field}"` : `field "${field}" must be an id without spaces`);
  return value;
}

function integerField(record: Record<string, unknown>, field: string): number {
  const value = record[field];
  if (typeof value !== 'number' || !Number.isSafeInteger(value))
    throw new LineError(value === undefined ? `missing field "${field}"` : `field "${field}" must be an integer`);
  return value;
}

function numberField(record: Record<string, unknown>, field: string): number {
  const value = record[field];
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw new LineError(value === undefined ? `missing field "${field}"` : `field "${field}" must be a finite number`);
  return value;
}

function checkTag(tag: string): void {
  if (tag === '' || /\s/.test(tag)) throw new ValidationError('tag', `must be a non-empty word without spaces, got ${JSON.stringify(tag)}`);
}

/** The TREC lines of one query, in trec_eval order (score descending, ties by docid descending), ranks from 1. */
export function* runLines(run: RunInput, tag: string): Generator<string> {
  checkTag(tag);
  for (const [qid, entries] of run) {
    if (qid === '' || /\s/.test(qid)) throw new ValidationError('run', `query id ${JSON.stringify(qid)} must be a word without spaces`);
    const sorted = [...entries].sort(compareTrecOrder);
    let rank = 0;
    const lines: string[] = [];
    for (const entry of sorted) {
      if (entry.docId === '' || /\s/.test(entry.docId)) throw new ValidationError('run', `document id ${JSON.stringify(entry.docId)} of query ${qid} must be a word without spaces`);
      if (!Number.isFinite(entry.score)) throw new ValidationError('run', `score of document ${entry.docId}, query ${qid} is not finite`);
      rank += 1;
      lines.push(`${qid} Q0 ${entry.docId} ${rank} ${entry.score} ${tag}\n`);
    }
    yield lines.join('');
  }
}

/** TREC run text (`qid Q0 docid rank score tag` lines) for a run; see runLines for the order. */
export function formatRun(run: RunInput, tag: string): string {
  return [...runLines(run, tag)].join('');
}

/** Writes a TREC run file, streaming query by query (safe for millions of lines). */
export async function writeRun(path: string, run: RunInput, tag: string): Promise<void> {
  checkTag(tag);
  const out = createWriteStream(path);
  const failed = new Promise<never>((_, reject) => out.once('error', reject));
  failed.catch(() => undefined);
  try {
    for (const chunk of runLines(run, tag)) {
      if (!out.write(chunk)) await Promise.race([once(out, 'drain'), failed]);
    }
    out.end();
    await Promise.race([once(out, 'finish'), failed]);
  } catch (error) {
    out.destroy();
    throw error;
  }
}
