import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { NotFoundError, ValidationError } from '@dotrank/core';

/** A malformed input line, reported to `onMalformed` when a caller asked to skip-and-report. */
export interface MalformedLine {
  file: string;
  /** 1-based line number. */
  line: number;
  reason: string;
}

export type OnMalformed = (malformed: MalformedLine) => void;

/** Thrown (internally) by line parsers; turned into a ValidationError naming `<file>:<line>` or reported. */
export class LineError extends Error {}

/** Throws a NotFoundError naming the path when it is neither a file nor a folder. */
export async function statOrThrow(path: string): Promise<{ isDirectory: boolean }> {
  try {
    const s = await stat(path);
    return { isDirectory: s.isDirectory() };
  } catch (error) {
    throw new NotFoundError(path, 'no such file or directory', { cause: error });
  }
}

/** One batch of lines; `invalid` maps a batch index to the problem of a line that could not be decoded. */
export interface LineBatch {
  lines: string[];
  /** 1-based number of `lines[0]`. */
  firstLine: number;
  invalid?: Map<number, string>;
}

const NEWLINE = 10;
const utf8 = new TextDecoder('utf-8', { fatal: true });
const lenientUtf8 = new TextDecoder('utf-8');

/**
 * Decodes complete lines (the bytes end at a line break, or at the end of the file). Decoding is strict: bytes
 * that are not UTF-8 would otherwise become U+FFFD without a word. The common case decodes the whole run at once;
 * only a run that fails is decoded line by line, to name the lines at fault.
 */
function decodeLines(bytes: Buffer, firstLine: number): LineBatch {
  try {
    return { lines: utf8.decode(bytes).split('\n'), firstLine };
  } catch {
    const lines: string[] = [];
    const invalid = new Map<number, string>();
    let start = 0;
    for (;;) {
      const end = bytes.indexOf(NEWLINE, start);
      const lineBytes = bytes.subarray(start, end === -1 ? bytes.length : end);
      try {
        lines.push(utf8.decode(lineBytes));
      } catch {
        invalid.set(lines.length, 'invalid UTF-8');
        lines.push(lenientUtf8.decode(lineBytes));
      }
      if (end === -1) break;
      start = end + 1;
    }
    return { lines, firstLine, invalid };
  }
}

function stripCarriageReturns(lines: string[]): void {
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.endsWith('\r')) lines[i] = line.slice(0, -1);
  }
}

/**
 * Streams the lines of a text file in batches (gzip when the name ends with `.gz`), with the 1-based number of
 * each batch's first line. A UTF-8 byte order mark and `\r` line ends are removed; a line that is not valid
 * UTF-8 is listed in the batch's `invalid`. Batching keeps the per-line cost near that of a bare split (one
 * await per chunk, not per line).
 */
export async function* readLineBatches(path: string): AsyncGenerator<LineBatch> {
  const info = await statOrThrow(path);
  if (info.isDirectory) throw new ValidationError(path, 'is a folder, expected a file');
  let input: Readable = createReadStream(path, { highWaterMark: 1 << 20 });
  if (path.endsWith('.gz')) input = input.pipe(createGunzip());
  let carry: Buffer = Buffer.alloc(0);
  let next = 1;
  let first = true;
  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      let bytes = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
      if (first && (bytes.length >= 3 || bytes.includes(NEWLINE))) {
        if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
        first = false;
      }
      const lastBreak = bytes.lastIndexOf(NEWLINE);
      if (lastBreak < 0) {
        carry = bytes;
        continue;
      }
      carry = Buffer.from(bytes.subarray(lastBreak + 1));
      const batch = decodeLines(bytes.subarray(0, lastBreak), next);
      stripCarriageReturns(batch.lines);
      yield batch;
      next += batch.lines.length;
    }
    if (first && carry.length >= 3 && carry[0] === 0xef && carry[1] === 0xbb && carry[2] === 0xbf) carry = carry.subarray(3);
    if (carry.length > 0) {
      const batch = decodeLines(carry, next);
      stripCarriageReturns(batch.lines);
      yield batch;
    }
  } finally {
    input.destroy();
  }
}

/**
 * What a reader does with an invalid line: `'fail'` (the default) throws a ValidationError naming `<file>:<line>`
 * at the first one; `'skip'` leaves it out and reports it to `onSkipped`.
 */
export interface InvalidLineOptions {
  onInvalid?: 'fail' | 'skip';
  onSkipped?: OnMalformed;
}

/** The callback that skips an invalid line, or undefined when invalid lines fail the read. */
export function skipHandler(options: InvalidLineOptions): OnMalformed | undefined {
  if (options.onInvalid !== 'skip') return undefined;
  return options.onSkipped ?? (() => undefined);
}

function parseOne<T>(
  path: string,
  text: string,
  line: number,
  undecodable: string | undefined,
  parse: (text: string, line: number) => T | undefined,
  onMalformed: OnMalformed | undefined,
): T | undefined {
  if (undecodable === undefined && text.trim() === '') return undefined;
  try {
    if (undecodable !== undefined) throw new LineError(undecodable);
    return parse(text, line);
  } catch (error) {
    if (!(error instanceof LineError)) throw error;
    if (onMalformed) {
      onMalformed({ file: path, line, reason: error.message });
      return undefined;
    }
    throw new ValidationError(`${path}:${line}`, error.message);
  }
}

/**
 * Runs `parse` on every non-blank line and yields the results in batches; a LineError (or a line that is not
 * UTF-8) fails the read with a ValidationError naming `<file>:<line>`, or, with `onInvalid: 'skip'`, is reported
 * to `onSkipped` and the line left out.
 */
export async function* parseLineBatches<T>(
  path: string,
  parse: (text: string, line: number) => T | undefined,
  options: InvalidLineOptions = {},
): AsyncGenerator<T[]> {
  const onMalformed = skipHandler(options);
  for await (const { lines, firstLine, invalid } of readLineBatches(path)) {
    const out: T[] = [];
    for (let i = 0; i < lines.length; i++) {
      const value = parseOne(path, lines[i]!, firstLine + i, invalid?.get(i), parse, onMalformed);
      if (value !== undefined) out.push(value);
    }
    if (out.length > 0) yield out;
  }
}

/** Like parseLineBatches, one value at a time. */
export async function* parseLines<T>(
  path: string,
  parse: (text: string, line: number) => T | undefined,
  options: InvalidLineOptions = {},
): AsyncGenerator<T> {
  for await (const batch of parseLineBatches(path, parse, options)) yield* batch;
}

/** Runs `parse` on every non-blank line for its side effects (no per-line await). */
export async function forEachLine(
  path: string,
  parse: (text: string, line: number) => unknown,
  options: InvalidLineOptions = {},
): Promise<void> {
  const onMalformed = skipHandler(options);
  for await (const { lines, firstLine, invalid } of readLineBatches(path)) {
    for (let i = 0; i < lines.length; i++) parseOne(path, lines[i]!, firstLine + i, invalid?.get(i), parse, onMalformed);
  }
}

/** True when an id holds whitespace or a control character: it would break TREC files and line-based formats. */
export function hasSpaceOrControl(id: string): boolean {
  return /[\s\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(id);
}

/** Splits on runs of spaces and tabs (TREC files may use either); no empty fields. */
export function splitWhitespace(text: string): string[] {
  const out: string[] = [];
  let start = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 9) {
      if (start >= 0) {
        out.push(text.slice(start, i));
        start = -1;
      }
    } else if (start < 0) start = i;
  }
  if (start >= 0) out.push(text.slice(start));
  return out;
}

/** Strips `.gz` so formats can be inferred from the inner extension. */
export function innerName(path: string): string {
  return path.endsWith('.gz') ? path.slice(0, -3) : path;
}
