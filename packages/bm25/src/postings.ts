/**
 * Frozen postings: per term, blocks of up to BLOCK_SIZE (doc, freq) pairs, varint-coded in one byte buffer.
 * Each posting is `varint(docDelta * 2 + (freq === 1 ? 1 : 0))` then `varint(freq)` when freq > 1.
 * Per block we keep its last doc (for skipping), its byte offset, and its maximal freq and minimal norm byte
 * (for score upper bounds).
 */
export const BLOCK_SIZE = 128;
export const NO_MORE_DOCS = 0x7fffffff;

export interface FrozenPostings {
  /** Block range of term t: [termBlockStart[t], termBlockStart[t + 1]). */
  termBlockStart: Uint32Array;
  blockLastDoc: Int32Array;
  /** Byte range of block i: [blockOffset[i], blockOffset[i + 1]). */
  blockOffset: Float64Array;
  blockMaxFreq: Uint32Array;
  blockMinNorm: Uint8Array;
  bytes: Uint8Array;
}

/** A growable byte buffer with varint writes. */
export class ByteWriter {
  bytes: Uint8Array;
  length = 0;
  constructor(initial = 1 << 16) {
    this.bytes = new Uint8Array(initial);
  }
  private ensure(extra: number): void {
    if (this.length + extra <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < this.length + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.bytes.subarray(0, this.length));
    this.bytes = next;
  }
  varint(value: number): void {
    this.ensure(5);
    let v = value;
    while (v >= 0x80) {
      this.bytes[this.length++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.bytes[this.length++] = v;
  }
  finish(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }
}

/** Cursor over one term's postings: `doc` is the current doc, NO_MORE_DOCS when exhausted. */
export class PostingsCursor {
  doc = -1;
  freq = 0;
  private readonly docs = new Int32Array(BLOCK_SIZE);
  private readonly freqs = new Int32Array(BLOCK_SIZE);
  private block: number;
  private count = 0;
  private pos = 0;

  constructor(
    private readonly p: FrozenPostings,
    private readonly firstBlock: number,
    private readonly endBlock: number,
  ) {
    this.block = firstBlock - 1;
    this.loadBlock(firstBlock);
  }

  private loadBlock(block: number): void {
    this.block = block;
    if (block >= this.endBlock) {
      this.doc = NO_MORE_DOCS;
      this.count = 0;
      this.pos = 0;
      return;
    }
    const bytes = this.p.bytes;
    let off = this.p.blockOffset[block]!;
    const end = this.p.blockOffset[block + 1]!;
    let doc = block === this.firstBlock ? -1 : this.p.blockLastDoc[block - 1]!;
    let n = 0;
    while (off < end) {
      let b = bytes[off++]!;
      let v = b & 0x7f;
      let mul = 0x80;
      while (b >= 0x80) {
        b = bytes[off++]!;
        v += (b & 0x7f) * mul;
        mul *= 0x80;
      }
      doc += Math.floor(v / 2);
      this.docs[n] = doc;
      if (v & 1) this.freqs[n] = 1;
      else {
        b = bytes[off++]!;
        let fv = b & 0x7f;
        let fm = 0x80;
        while (b >= 0x80) {
          b = bytes[off++]!;
          fv += (b & 0x7f) * fm;
          fm *= 0x80;
        }
        this.freqs[n] = fv;
      }
      n++;
    }
    this.count = n;
    this.pos = 0;
    this.doc = this.docs[0]!;
    this.freq = this.freqs[0]!;
  }

  next(): number {
    if (++this.pos < this.count) {
      this.doc = this.docs[this.pos]!;
      this.freq = this.freqs[this.pos]!;
    } else this.loadBlock(this.block + 1);
    return this.doc;
  }

  /** Moves to the first doc >= target. */
  advance(target: number): number {
    if (this.doc >= target) return this.doc;
    const lastDoc = this.p.blockLastDoc;
    if (lastDoc[this.block]! < target) {
      let b = this.block + 1;
      while (b < this.endBlock && lastDoc[b]! < target) b++;
      this.loadBlock(b);
      if (this.doc === NO_MORE_DOCS) return this.doc;
    }
    let pos = this.pos;
    while (this.docs[pos]! < target) pos++;
    this.pos = pos;
    this.doc = this.docs[pos]!;
    this.freq = this.freqs[pos]!;
    return this.doc;
  }
}
