import { basename, extname } from 'node:path';
import type { Passage, Scalar } from '@dotrank/core';
import { ValidationError } from '@dotrank/core';
import { findCollection } from './collection.js';
import type { InvalidLineOptions } from './lines.js';
import { LineError, forEachLine, hasSpaceOrControl, innerName, parseLines, statOrThrow } from './lines.js';

export type CorpusFormat = 'beir' | 'msmarco' | 'jsonl' | 'tsv';

export interface CorpusFields {
  /** JSONL field holding the id; default `_id`, falling back to `id`. */
  id?: string;
  /** JSONL field holding the text; default `text`. */
  text?: string;
  /** JSONL field holding the title; default `title`. */
  title?: string;
}

/** Where a passage came from, for messages about it. */
export interface PassageLocation {
  id: string;
  file: string;
  /** 1-based line number. */
  line: number;
}

/**
 * Reading options. Invalid lines (malformed, an id with whitespace or control characters, a duplicate id, bytes
 * that are not UTF-8) fail the read by default (`onInvalid: 'skip'` reports and leaves them out); a corpus with
 * no passage fails either way.
 */
export interface ReadCorpusOptions extends InvalidLineOptions {
  format?: CorpusFormat;
  fields?: CorpusFields;
  /**
   * Told of each passage whose text is empty or only whitespace. Such passages are real (Cranfield has two) and
   * are still yielded; the caller decides how to warn.
   */
  onBlankText?: (passage: PassageLocation) => void;
}

/** A query: id and text. */
export interface Query {
  id: string;
  text: string;
}

/**
 * Streams passages from a BEIR folder (its `corpus.jsonl`), an MS MARCO folder (its `collection.tsv`) or a file.
 * Format is inferred from the name when absent: `*.jsonl` is JSONL (BEIR fields), `collection.tsv` MS MARCO,
 * other `*.tsv` generic TSV (`id<TAB>text` or `id<TAB>title<TAB>text`). A `.gz` suffix is read through gunzip.
 * Passage text is `title + " " + text` when a non-empty title exists (BEIR convention); the title is kept too.
 */
export async function* readCorpus(path: string, options: ReadCorpusOptions = {}): AsyncGenerator<Passage> {
  let file = path;
  let format = options.format;
  if ((await statOrThrow(path)).isDirectory) {
    const collection = await findCollection(path, { require: ['corpus'] });
    file = collection.corpus;
    format ??= collection.format;
  }
  format ??= inferCorpusFormat(file);
  const parsePassage = passageParser(format, options.fields ?? {});
  const firstLineOf = new Map<string, number>();
  const parse = (text: string, line: number): Passage | undefined => {
    const passage = parsePassage(text);
    if (passage === undefined) return undefined;
    const previous = firstLineOf.get(passage.id);
    if (previous !== undefined) throw new LineError(`duplicate id ${JSON.stringify(passage.id)} (first on line ${previous})`);
    firstLineOf.set(passage.id, line);
    if (passage.text.trim() === '') options.onBlankText?.({ id: passage.id, file, line });
    return passage;
  };
  yield* parseLines(file, parse, options);
  if (firstLineOf.size === 0) {
    throw new ValidationError(file, options.onInvalid === 'skip' ? 'no valid passage in the corpus' : 'the corpus holds no passage');
  }
}

/** The line parser of a corpus format (TSV: a header line, when first, gives undefined). */
function passageParser(format: CorpusFormat, fields: CorpusFields): (text: string) => Passage | undefined {
  if (format === 'beir' || format === 'jsonl') return (text) => parseJsonPassage(text, fields);
  let first = true;
  return (text) => {
    const wasFirst = first;
    first = false;
    return parseTsvPassage(text, format === 'msmarco', wasFirst);
  };
}

/** A ValidationError-to-be when an id cannot be written to a TREC run or a line-based file. */
function checkId(id: string, what: string): string {
  if (id.trim() === '') throw new LineError(`${what} is empty`);
  if (hasSpaceOrControl(id)) throw new LineError(`${what} ${JSON.stringify(id)} contains whitespace or a control character`);
  return id;
}

/** The corpus format a file name implies; a ValidationError naming `format` when it implies none. */
export function inferCorpusFormat(file: string): CorpusFormat {
  const name = basename(innerName(file)).toLowerCase();
  const ext = extname(name);
  if (ext === '.jsonl' || ext === '.json') return 'jsonl';
  if (name === 'collection.tsv') return 'msmarco';
  if (ext === '.tsv' || ext === '.txt') return 'tsv';
  throw new ValidationError('format', `cannot infer the corpus format of ${file} (use .jsonl or .tsv, or pass a format)`);
}

export function parseJsonObject(text: string): Record<string, unknown> {
  let record: unknown;
  try {
    record = JSON.parse(text);
  } catch (error) {
    throw new LineError(`invalid JSON (${(error as Error).message})`);
  }
  if (record === null || typeof record !== 'object' || Array.isArray(record)) throw new LineError('expected a JSON object');
  return record as Record<string, unknown>;
}

function idOf(record: Record<string, unknown>, field: string | undefined): { id: string; field: string } {
  // BEIR `_id`, ir_datasets exports `doc_id` / `query_id`, else `id`
  const name = field ?? ['_id', 'doc_id', 'query_id', 'id'].find((f) => f in record) ?? 'id';
  const value = record[name];
  if (value === undefined || value === null) throw new LineError(`missing id field "${name}"`);
  if (typeof value !== 'string' && !(typeof value === 'number' && Number.isFinite(value))) {
    throw new LineError(`id field "${name}" must be a string or a number`);
  }
  return { id: checkId(String(value), `id field "${name}"`), field: name };
}

function isScalar(value: unknown): value is Scalar {
  return typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value));
}

function parseJsonPassage(text: string, fields: CorpusFields): Passage {
  const record = parseJsonObject(text);
  const { id, field: idField } = idOf(record, fields.id);
  const textField = fields.text ?? 'text';
  const titleField = fields.title ?? 'title';
  const body = record[textField];
  if (typeof body !== 'string') throw new LineError(body === undefined ? `missing text field "${textField}"` : `text field "${textField}" must be a string`);
  const rawTitle = record[titleField];
  if (rawTitle !== undefined && rawTitle !== null && typeof rawTitle !== 'string') throw new LineError(`title field "${titleField}" must be a string`);
  const title = typeof rawTitle === 'string' ? rawTitle : undefined;
  const passage: Passage = { id, text: joinTitle(title, body) };
  if (title !== undefined && title.trim() !== '') passage.title = title;
  const metadata: Record<string, Scalar> = {};
  for (const [key, value] of Object.entries(record)) {
    if (key === idField || key === textField || key === titleField) continue;
    if (isScalar(value)) metadata[key] = value;
    else if (key === 'metadata' && value !== null && typeof value === 'object' && !Array.isArray(value)) {
      // BEIR corpora keep extra fields in a nested `metadata` object: its scalars are kept, top-level fields win.
      for (const [innerKey, innerValue] of Object.entries(value as Record<string, unknown>)) {
        if (isScalar(innerValue) && !(innerKey in record)) metadata[innerKey] = innerValue;
      }
    }
  }
  if (Object.keys(metadata).length > 0) passage.metadata = metadata;
  return passage;
}

function joinTitle(title: string | undefined, text: string): string {
  if (title === undefined || title.trim() === '') return text;
  return text === '' ? title : `${title} ${text}`;
}

const ID_HEADERS = new Set(['id', '_id', 'pid', 'docid', 'doc_id', 'doc-id', 'corpus-id', 'qid', 'query-id', 'query_id']);

function parseTsvPassage(text: string, msmarco: boolean, first: boolean): Passage | undefined {
  const columns = text.split('\t');
  if (first && ID_HEADERS.has((columns[0] ?? '').trim().toLowerCase())) return undefined;
  if (columns.length < 2) throw new LineError('expected id<TAB>text');
  if (msmarco && columns.length !== 2) throw new LineError(`expected 2 tab-separated columns (pid, text), found ${columns.length}`);
  if (columns.length > 3) throw new LineError(`expected 2 or 3 tab-separated columns (id, [title,] text), found ${columns.length}`);
  const id = checkId(columns[0]!.trim(), 'id');
  if (columns.length === 2) return { id, text: columns[1]! };
  const title = columns[1]!;
  const passage: Passage = { id, text: joinTitle(title, columns[2]!) };
  if (title.trim() !== '') passage.title = title;
  return passage;
}

/**
 * Reads queries: a BEIR folder or `*.jsonl` (`_id`, `text`), or TSV (`qid<TAB>text`, MS MARCO / TREC DL).
 * Duplicate ids and malformed lines are ValidationErrors naming `<file>:<line>`.
 */
export async function readQueries(path: string, options: InvalidLineOptions = {}): Promise<Query[]> {
  let file = path;
  if ((await statOrThrow(path)).isDirectory) file = (await findCollection(path, { require: ['queries'] })).queries;
  const name = basename(innerName(file)).toLowerCase();
  const json = name.endsWith('.jsonl') || name.endsWith('.json');
  const seen = new Map<string, number>();
  const queries: Query[] = [];
  let first = true;
  const parse = (text: string, line: number): Query | undefined => {
    const wasFirst = first;
    first = false;
    let query: Query;
    if (json) {
      const record = parseJsonObject(text);
      const { id } = idOf(record, undefined);
      const body = record['text'] ?? record['query'];
      if (typeof body !== 'string') throw new LineError('missing string field "text"');
      query = { id, text: body };
    } else {
      const tab = text.indexOf('\t');
      if (tab < 0) throw new LineError('expected qid<TAB>text');
      const id = text.slice(0, tab).trim();
      if (wasFirst && ID_HEADERS.has(id.toLowerCase())) return undefined;
      checkId(id, 'query id');
      query = { id, text: text.slice(tab + 1) };
    }
    if (query.text.trim() === '') throw new LineError(`query ${query.id} has empty text`);
    const previous = seen.get(query.id);
    if (previous !== undefined) throw new LineError(`duplicate query id ${query.id} (first on line ${previous})`);
    seen.set(query.id, line);
    return query;
  };
  await forEachLine(
    file,
    (text, line) => {
      const query = parse(text, line);
      if (query) queries.push(query);
    },
    options,
  );
  return queries;
}
