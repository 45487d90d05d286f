import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { Qrels, Run, RunEntry } from './trec.js';

// The fast path of readRun / readQrels for the common file: plain TREC columns in ASCII (gzip allowed), a run's
// lines grouped by query. Each chunk is decoded once and scanned by character code: no string per line, no field
// array, no regex. It gives up (returns undefined) at anything unusual - a malformed line, a non-ASCII or control
// character, invalid UTF-8, a run query whose lines are apart, a duplicate - and the caller then reads the file the
// general way, which names `file:line` and honours `onInvalid`. A valid file gives the same result either way.

/** Thrown inside a scan to hand the file to the general reader. */
export class GiveUp extends Error {}

const SPACE = 32;
const TAB = 9;
const LF = 10;
const CR = 13;
export const HASH = 35;
const PLUS = 43;
const MINUS = 45;
const ZERO = 48;
const NINE = 57;
const DOT = 46;
const MAX_FIELDS = 7;

/**
 * Field i of the current line is bytes starts[i] to ends[i] of `text` (sliceAt makes it a string); `fields` counts them
 * (at most MAX_FIELDS). The bytes are ASCII (the scan gives up at any other), so a byte is also its character code.
 */
export type LineHandler = (text: Buffer, starts: Int32Array, ends: Int32Array, fields: number) => void;

/** Calls `onLine` for every non-blank line; false when the file is not one the fast path takes. */
export async function scanTrecLines(path: string, onLine: LineHandler): Promise<boolean> {
  let input: Readable = createReadStream(path, { highWaterMark: 1 << 20 });
  if (path.endsWith('.gz')) input = input.pipe(createGunzip({ chunkSize: 1 << 20 }));
  input.on('error', () => undefined); // surfaced by the iteration below; never an unhandled error
  const starts = new Int32Array(MAX_FIELDS);
  const ends = new Int32Array(MAX_FIELDS);
  // `limit` is just after a line break
  const scan = (text: Buffer, limit: number): void => {
    let fields = 0;
    let start = -1;
    for (let i = 0; i < limit; i++) {
      const c = text[i]!;
      if (c > SPACE && c < 127) {
        if (start < 0) start = i;
        continue;
      }
      if (c === SPACE || c === TAB || c === LF || (c === CR && text[i + 1] === LF)) {
        if (start >= 0) {
          if (fields < MAX_FIELDS) {
            starts[fields] = start;
            ends[fields] = i;
          }
          fields++;
          start = -1;
        }
        if (c === LF) {
          if (fields > 0) onLine(text, starts, ends, Math.min(fields, MAX_FIELDS));
          fields = 0;
        }
        continue;
      }
      throw new GiveUp(); // non-ASCII (a byte order mark too), a control character, a lone carriage return
    }
  };
  // the bytes are scanned as they are read (decoding each chunk to a string cost a tenth of the reading); the scan takes
  // ASCII only, so a field's latin1 string is also its UTF-8 reading
  let carry: Buffer = Buffer.alloc(0);
  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      // the line cut by the previous chunk is joined to its end alone: joining it to the whole chunk copied every chunk
      let from = 0;
      if (carry.length > 0) {
        const firstBreak = chunk.indexOf(LF);
        if (firstBreak < 0) {
          carry = Buffer.concat([carry, chunk]);
          continue;
        }
        const head = Buffer.concat([carry, chunk.subarray(0, firstBreak + 1)]);
        scan(head, head.length);
        from = firstBreak + 1;
      }
      const lastBreak = chunk.lastIndexOf(LF);
      if (lastBreak < from) {
        carry = Buffer.from(chunk.subarray(from));
        continue;
      }
      scan(chunk.subarray(from, lastBreak + 1), lastBreak + 1 - from);
      carry = Buffer.from(chunk.subarray(lastBreak + 1));
    }
    if (carry.length > 0) scan(Buffer.concat([carry, Buffer.from([LF])]), carry.length + 1);
    return true;
  } catch {
    // GiveUp, a missing file, a folder, a broken gzip stream: the general reader reports what is wrong
    return false;
  } finally {
    input.destroy();
  }
}

/** trec_eval's integer column (`[+-]?digits`), or GiveUp. */
export function integerAt(text: Buffer, start: number, end: number): number {
  let i = start;
  const sign = text[i];
  if (sign === PLUS || sign === MINUS) i++;
  if (i === end) throw new GiveUp();
  if (end - i > 15) {
    for (let j = i; j < end; j++) if (text[j]! < ZERO || text[j]! > NINE) throw new GiveUp();
    return Number(sliceAt(text, start, end));
  }
  let value = 0;
  for (; i < end; i++) {
    const digit = text[i]! - ZERO;
    if (digit < 0 || digit > 9) throw new GiveUp();
    value = value * 10 + digit;
  }
  return sign === MINUS ? -value : value;
}

const POWERS_OF_TEN = Array.from({ length: 23 }, (_, i) => 10 ** i); // exact doubles

/**
 * Number(sliceAt(text, start, end)) without the slice for plain decimals (`[+-]?digits[.digits]`, at most 15 digits):
 * the digits as an integer and the power of ten are exact doubles, so their one division is correctly rounded - the
 * same double as Number() (Clinger's fast path). Anything else goes to Number().
 */
export function decimalAt(text: Buffer, start: number, end: number): number {
  let i = start;
  const sign = text[i];
  if (sign === PLUS || sign === MINUS) i++;
  let mantissa = 0;
  let digits = 0;
  let fraction = -1;
  for (; i < end; i++) {
    const c = text[i]!;
    if (c >= ZERO && c <= NINE) {
      mantissa = mantissa * 10 + (c - ZERO);
      digits++;
      if (fraction >= 0) fraction++;
    } else if (c === DOT && fraction < 0) fraction = 0;
    else return Number(sliceAt(text, start, end));
  }
  if (digits === 0 || digits > 15) return Number(sliceAt(text, start, end));
  const value = fraction > 0 ? mantissa / POWERS_OF_TEN[fraction]! : mantissa;
  return sign === MINUS ? -value : value;
}

function isIntegerAt(text: Buffer, start: number, end: number): boolean {
  try {
    integerAt(text, start, end);
    return true;
  } catch {
    return false;
  }
}

/** The field as a string (latin1: one byte, one character; the scan passed ASCII only). */
export function sliceAt(text: Buffer, start: number, end: number): string {
  return text.toString('latin1', start, end);
}

/** True when the field equals `value`, without making its string. */
export function fieldEquals(text: Buffer, start: number, end: number, value: string): boolean {
  if (end - start !== value.length) return false;
  for (let i = start, j = 0; i < end; i++, j++) if (text[i] !== value.charCodeAt(j)) return false;
  return true;
}

/** FNV-1a of the field, without making its string: the same number as hashOf its string (ASCII). */
export function hashAt(text: Buffer, start: number, end: number): number {
  let hash = 0x811c9dc5;
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ text[i]!, 0x01000193);
  return hash >>> 0;
}

/** FNV-1a of a string's UTF-16 code units. */
export function hashOf(value: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < value.length; i++) hash = Math.imul(hash ^ value.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

/**
 * Doc ids read lately, by hash (direct-mapped: a slot keeps the last id that hashed to it, so memory stays bounded):
 * a doc id that recurs - the same documents retrieved for many queries - becomes one string, not one per line.
 * Making and keeping a string per line was most of the reading time.
 */
const INTERN_SLOTS = 1 << 16;

/**
 * The current query's doc ids by hash, for the duplicate check: open addressing over typed arrays, a slot in use when
 * its stamp is the query's, so a new query clears nothing (a Set per query cost an allocation and ~8 rehashes each).
 */
class QueryDocIds {
  private stamps = new Int32Array(1 << 12);
  private positions = new Int32Array(1 << 12);
  private stamp = 0;

  nextQuery(): void {
    this.stamp++;
  }

  /** Adds entries[entries.length]'s doc id (about to be pushed); false when the query already has it. */
  add(docId: string, hash: number, entries: readonly RunEntry[]): boolean {
    if (entries.length * 2 >= this.stamps.length) this.grow(entries);
    const { stamps, positions, stamp } = this;
    const mask = stamps.length - 1;
    let slot = hash & mask;
    while (stamps[slot] === stamp) {
      if (entries[positions[slot]!]!.docId === docId) return false;
      slot = (slot + 1) & mask;
    }
    stamps[slot] = stamp;
    positions[slot] = entries.length;
    return true;
  }

  private grow(entries: readonly RunEntry[]): void {
    this.stamps = new Int32Array(this.stamps.length * 2);
    this.positions = new Int32Array(this.stamps.length);
    const mask = this.stamps.length - 1;
    for (let i = 0; i < entries.length; i++) {
      const id = entries[i]!.docId;
      let slot = hashOf(id) & mask;
      while (this.stamps[slot] === this.stamp) slot = (slot + 1) & mask;
      this.stamps[slot] = this.stamp;
      this.positions[slot] = i;
    }
  }
}

/** A TREC run (6+ columns, each query's lines together, no duplicate), or undefined for the general reader. */
export async function readTrecRunFast(path: string): Promise<Run | undefined> {
  const run: Run = new Map();
  let qid = '';
  let entries: RunEntry[] = [];
  const interned = new Array<string>(INTERN_SLOTS).fill('');
  const queryDocIds = new QueryDocIds();
  const ok = await scanTrecLines(path, (text, starts, ends, fields) => {
    if (text[starts[0]!] === HASH) return; // a comment line
    if (fields < 6) throw new GiveUp();
    if (!fieldEquals(text, starts[0]!, ends[0]!, qid)) {
      qid = sliceAt(text, starts[0]!, ends[0]!);
      if (run.has(qid)) throw new GiveUp(); // lines of one query apart: the general reader tracks them all
      run.set(qid, (entries = []));
      queryDocIds.nextQuery();
    }
    const start = starts[2]!;
    const end = ends[2]!;
    const hash = hashAt(text, start, end);
    const slot = hash & (INTERN_SLOTS - 1);
    let docId = interned[slot]!;
    if (!fieldEquals(text, start, end, docId)) interned[slot] = docId = sliceAt(text, start, end);
    if (!queryDocIds.add(docId, hash, entries)) throw new GiveUp();
    const rank = integerAt(text, starts[3]!, ends[3]!);
    const score = decimalAt(text, starts[4]!, ends[4]!);
    if (!Number.isFinite(score)) throw new GiveUp();
    entries.push({ docId, score, rank });
  });
  return ok ? run : undefined;
}

/** TREC (`qid iter docid rel`) or BEIR TSV (`query-id corpus-id score`, header optional) judgments, or undefined. */
export async function readTrecQrelsFast(path: string): Promise<Qrels | undefined> {
  const qrels: Qrels = new Map();
  let columns = 0;
  let qid = '';
  let docs = new Map<string, number>();
  const ok = await scanTrecLines(path, (text, starts, ends, fields) => {
    if (text[starts[0]!] === HASH) return; // a comment line
    if (columns === 0) {
      if (fields === 3 && !isIntegerAt(text, starts[2]!, ends[2]!)) {
        columns = 3; // a BEIR header line
        return;
      }
      if (fields !== 3 && fields !== 4) throw new GiveUp();
      columns = fields;
    }
    if (fields !== columns) throw new GiveUp();
    if (!fieldEquals(text, starts[0]!, ends[0]!, qid)) {
      qid = sliceAt(text, starts[0]!, ends[0]!);
      const known = qrels.get(qid);
      if (known) docs = known;
      else qrels.set(qid, (docs = new Map()));
    }
    const docField = columns === 4 ? 2 : 1;
    const docId = sliceAt(text, starts[docField]!, ends[docField]!);
    if (docs.has(docId)) throw new GiveUp();
    docs.set(docId, integerAt(text, starts[columns - 1]!, ends[columns - 1]!));
  });
  return ok ? qrels : undefined;
}
