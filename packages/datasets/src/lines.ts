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

/**
 * Streams the lines of a text file in batches (gzip when the name ends with `.gz`), with the 1-based number of
 * each batch's first line. A UTF-8 byte order mark and `\r` line ends are removed. Batching keeps the per-line
 * cost near that of a bare split (one await per chunk, not per line).
 */
export async function* readLineBatches(path: string): AsyncGenerator<{ lines: string[]; firstLine: number }> {
  const info = await statOrThrow(path);
  if (info.isDirectory) throw new ValidationError(path, 'is a folder, expected a file');
  let input: Readable = createReadStream(path, { highWaterMark: 1 << 20 });
  if (path.endsWith('.gz')) input = input.pipe(createGunzip());
  input.setEncoding('utf8');
  let carry = '';
  let next = 1;
  let first = true;
  try {
    for await (const chunk of input as AsyncIterable<string>) {
      let text = carry + chunk;
      if (first && text.length > 0) {
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
        first = false;
      }
      const lines = text.split('\n');
      carry = lines.pop()!;
      if (lines.length === 0) continue;
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i]!;
        if (line.endsWith('\r')) lines[i] = line.slice(0, -1);
      }
      yield { lines, firstLine: next };
      next += lines.length;
    }
    if (carry !== '') yield { lines: [carry.endsWith('\r') ? carry.slice(0, -1) : carry], firstLine: next };
  } finally {
    input.destroy();
  }
}

function parseOne<T>(
  path: string,
  text: string,
  line: number,
  parse: (text: string, line: number) => T | undefined,
  onMalformed: OnMalformed | undefined,
): T | undefined {
  if (text.trim() === '') return undefined;
  try {
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
 * Runs `parse` on every non-blank line and yields the results in batches; a LineError becomes a ValidationError
 * with field `<file>:<line>`, or, when `onMalformed` is given, is reported and the line skipped.
 */
export async function* parseLineBatches<T>(
  path: string,
  parse: (text: string, line: number) => T | undefined,
  onMalformed?: OnMalformed,
): AsyncGenerator<T[]> {
  for await (const { lines, firstLine } of readLineBatches(path)) {
    const out: T[] = [];
    for (let i = 0; i < lines.length; i++) {
      const value = parseOne(path, lines[i]!, firstLine + i, parse, onMalformed);
      if (value !== undefined) out.push(value);
    }
    if (out.length > 0) yield out;
  }
}

/** Like parseLineBatches, one value at a time. */
export async function* parseLines<T>(
  path: string,
  parse: (text: string, line: number) => T | undefined,
  onMalformed?: OnMalformed,
): AsyncGenerator<T> {
  for await (const batch of parseLineBatches(path, parse, onMalformed)) yield* batch;
}

/** Runs `parse` on every non-blank line for its side effects (no per-line await). */
export async function forEachLine(
  path: string,
  parse: (text: string, line: number) => unknown,
  onMalformed?: OnMalformed,
): Promise<void> {
  for await (const { lines, firstLine } of readLineBatches(path)) {
    for (let i = 0; i < lines.length; i++) parseOne(path, lines[i]!, firstLine + i, parse, onMalformed);
  }
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
