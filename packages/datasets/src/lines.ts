import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
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
 * Streams the lines of a text file (gzip when the name ends with `.gz`), with 1-based line numbers.
 * A UTF-8 byte order mark and `\r` line ends are removed.
 */
export async function* readLines(path: string): AsyncGenerator<{ text: string; line: number }> {
  const info = await statOrThrow(path);
  if (info.isDirectory) throw new ValidationError(path, 'is a folder, expected a file');
  let input: Readable = createReadStream(path);
  if (path.endsWith('.gz')) input = input.pipe(createGunzip());
  const lines = createInterface({ input, crlfDelay: Infinity });
  let line = 0;
  try {
    for await (const raw of lines) {
      line += 1;
      let text = raw;
      if (line === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      if (text.endsWith('\r')) text = text.slice(0, -1);
      yield { text, line };
    }
  } finally {
    lines.close();
    input.destroy();
  }
}

/**
 * Runs `parse` on every non-blank line; a LineError becomes a ValidationError with field `<file>:<line>`,
 * or, when `onMalformed` is given, is reported and the line skipped.
 */
export async function* parseLines<T>(
  path: string,
  parse: (text: string, line: number) => T | undefined,
  onMalformed?: OnMalformed,
): AsyncGenerator<T> {
  for await (const { text, line } of readLines(path)) {
    if (text.trim() === '') continue;
    let value: T | undefined;
    try {
      value = parse(text, line);
    } catch (error) {
      if (!(error instanceof LineError)) throw error;
      if (onMalformed) {
        onMalformed({ file: path, line, reason: error.message });
        continue;
      }
      throw new ValidationError(`${path}:${line}`, error.message);
    }
    if (value !== undefined) yield value;
  }
}

/** Splits on runs of spaces and tabs (TREC files may use either). */
export function splitWhitespace(text: string): string[] {
  return text.trim().split(/[ \t]+/);
}

/** Strips `.gz` so formats can be inferred from the inner extension. */
export function innerName(path: string): string {
  return path.endsWith('.gz') ? path.slice(0, -3) : path;
}
