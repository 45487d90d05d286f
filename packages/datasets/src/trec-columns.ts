import { ValidationError } from '@dotrank/core';
import type { InvalidLineOptions } from './lines.js';
import { innerName } from './lines.js';
import { readRun } from './trec.js';
import {
  GiveUp,
  HASH,
  decimalAt,
  fieldEquals,
  hashAt,
  hashOf,
  integerAt,
  scanTrecLines,
  sliceAt,
} from './trec-fast.js';

// A run read into columns for evaluation: per query a typed array of doc ids and one of scores, the doc ids interned
// once per run (an integer per line, one string per distinct id). Reading a run as one { docId, score, rank } object
// per line cost most of `dotrank measure`'s time: millions of small objects to make and to collect.

/** One query's lines in file order: docs[i] indexes RunColumns.docIds, scores[i] is its score. */
export interface QueryColumns {
  readonly docs: Int32Array;
  readonly scores: Float64Array;
}

/**
 * A ranking run in columns: query id -> its lines (file order), each doc id an index into `docIds`. No query holds a
 * doc id twice (the readers refuse it, as trec_eval does). The rank column is not kept: trec_eval ignores it.
 */
export class RunColumns {
  /** Tells a RunColumns from a Map-shaped run without instanceof (two copies of this module may be loaded). */
  readonly format = 'columns' as const;
  readonly queries = new Map<string, QueryColumns>();
  /** Every distinct doc id of the run, once; ids are positions in this array. */
  readonly docIds: string[] = [];
  private hashes = new Uint32Array(1 << 12);
  /** Open addressing over doc ids by FNV-1a hash: id + 1 in a used slot, 0 in a free one (load <= 1/2). */
  private slots = new Int32Array(1 << 13);

  /** The id of a doc id, or -1 when the run does not retrieve it. */
  idOf(docId: string): number {
    const mask = this.slots.length - 1;
    for (let slot = hashOf(docId) & mask; ; slot = (slot + 1) & mask) {
      const entry = this.slots[slot]!;
      if (entry === 0) return -1;
      if (this.docIds[entry - 1] === docId) return entry - 1;
    }
  }

  /** The id of a field of a scanned line (`hash` = its hashAt), added when new; its string is made only then. */
  internAt(text: Buffer, start: number, end: number, hash: number): number {
    const mask = this.slots.length - 1;
    let slot = hash & mask;
    for (let entry = this.slots[slot]!; entry !== 0; entry = this.slots[slot]!) {
      if (this.hashes[entry - 1] === hash && fieldEquals(text, start, end, this.docIds[entry - 1]!)) return entry - 1;
      slot = (slot + 1) & mask;
    }
    return this.add(sliceAt(text, start, end), hash, slot);
  }

  /** The id of a doc id, added when new. */
  intern(docId: string): number {
    const hash = hashOf(docId);
    const mask = this.slots.length - 1;
    let slot = hash & mask;
    for (let entry = this.slots[slot]!; entry !== 0; entry = this.slots[slot]!) {
      if (this.docIds[entry - 1] === docId) return entry - 1;
      slot = (slot + 1) & mask;
    }
    return this.add(docId, hash, slot);
  }

  /** Adds a doc id known to be new, at `slot` (free). */
  private add(docId: string, hash: number, slot: number): number {
    const id = this.docIds.push(docId) - 1;
    if (id === this.hashes.length) {
      const hashes = new Uint32Array(id * 2);
      hashes.set(this.hashes);
      this.hashes = hashes;
    }
    this.hashes[id] = hash;
    this.slots[slot] = id + 1;
    if (this.docIds.length * 2 > this.slots.length) this.rehash();
    return id;
  }

  private rehash(): void {
    const slots = new Int32Array(this.slots.length * 2);
    const mask = slots.length - 1;
    for (let id = 0; id < this.docIds.length; id++) {
      let slot = this.hashes[id]! & mask;
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = id + 1;
    }
    this.slots = slots;
  }

  /** The columns of a Map-shaped run (a doc id twice in one query is refused, naming both). */
  static fromRun(run: ReadonlyMap<string, readonly { docId: string; score: number }[]>): RunColumns {
    const columns = new RunColumns();
    const builder = new ColumnsBuilder(columns);
    for (const [qid, entries] of run) {
      builder.startQuery(qid);
      for (const { docId, score } of entries) {
        const id = columns.intern(docId);
        if (!builder.add(id, score)) throw new ValidationError('run', `duplicate document ${docId} for query ${qid}`);
      }
    }
    builder.finish();
    return columns;
  }
}

/** Appends lines query by query into shared growing columns; each query's columns are views of them at the end. */
class ColumnsBuilder {
  private docs = new Int32Array(1 << 14);
  private scores = new Float64Array(1 << 14);
  private length = 0;
  private readonly starts: [string, number][] = [];
  private readonly qids = new Set<string>();
  /** seenIn[id]: the number of the query that last had the id (the duplicate check; nothing to clear per query). */
  private seenIn = new Int32Array(1 << 12);

  constructor(private readonly columns: RunColumns) {}

  startQuery(qid: string): void {
    this.starts.push([qid, this.length]);
    this.qids.add(qid);
  }

  has(qid: string): boolean {
    return this.qids.has(qid);
  }

  /** Adds a line to the current query; false when the query has this doc id already. */
  add(id: number, score: number): boolean {
    if (id >= this.seenIn.length) {
      const seenIn = new Int32Array(Math.max(id + 1, this.seenIn.length * 2));
      seenIn.set(this.seenIn);
      this.seenIn = seenIn;
    }
    const query = this.starts.length;
    if (this.seenIn[id] === query) return false;
    this.seenIn[id] = query;
    if (this.length === this.docs.length) {
      const docs = new Int32Array(this.length * 2);
      docs.set(this.docs);
      this.docs = docs;
      const scores = new Float64Array(this.length * 2);
      scores.set(this.scores);
      this.scores = scores;
    }
    this.docs[this.length] = id;
    this.scores[this.length++] = score;
    return true;
  }

  finish(): void {
    for (let q = 0; q < this.starts.length; q++) {
      const [qid, start] = this.starts[q]!;
      const end = q + 1 < this.starts.length ? this.starts[q + 1]![1] : this.length;
      this.columns.queries.set(qid, { docs: this.docs.subarray(start, end), scores: this.scores.subarray(start, end) });
    }
  }
}

/**
 * Reads a TREC run (`.gz` too) into columns, with readRun's rules and errors: plain ASCII files with each query's lines
 * together are scanned here; anything else (JSON Lines, a malformed line, a duplicate, lines of a query apart, a
 * missing file) is read by readRun, which names `file:line` and honours `onInvalid`, and then put into columns.
 */
export async function readRunColumns(path: string, options: InvalidLineOptions = {}): Promise<RunColumns> {
  if (!innerName(path).toLowerCase().endsWith('.jsonl')) {
    const fast = await scanRunColumns(path);
    if (fast) return fast;
  }
  return RunColumns.fromRun(await readRun(path, options));
}

/** The columns of a plain TREC run, or undefined at anything the general reader must see (as readTrecRunFast). */
async function scanRunColumns(path: string): Promise<RunColumns | undefined> {
  const columns = new RunColumns();
  const builder = new ColumnsBuilder(columns);
  let qid = ''; // never a field: the first line starts a query
  const ok = await scanTrecLines(path, (text, starts, ends, fields) => {
    if (text[starts[0]!] === HASH) return; // a comment line
    if (fields < 6) throw new GiveUp();
    if (!fieldEquals(text, starts[0]!, ends[0]!, qid)) {
      qid = sliceAt(text, starts[0]!, ends[0]!);
      if (builder.has(qid)) throw new GiveUp(); // lines of one query apart
      builder.startQuery(qid);
    }
    const id = columns.internAt(text, starts[2]!, ends[2]!, hashAt(text, starts[2]!, ends[2]!));
    integerAt(text, starts[3]!, ends[3]!); // the rank is not kept, but it must be an integer as readRun requires
    const score = decimalAt(text, starts[4]!, ends[4]!);
    if (!Number.isFinite(score)) throw new GiveUp();
    if (!builder.add(id, score)) throw new GiveUp(); // a duplicate: readRun names both lines
  });
  if (!ok) return undefined;
  builder.finish();
  return columns;
}
