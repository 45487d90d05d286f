import { ConfigError, TopK, ValidationError, matchesFilter } from '@dotrank/core';
import type { Passage, Scalar, SearchFilter } from '@dotrank/core';
import { analyze, DEFAULT_MAX_TOKEN_LENGTH } from './analyzer.js';
import { BLOCK_SIZE, ByteWriter, NO_MORE_DOCS, PostingsCursor } from './postings.js';
import type { FrozenState } from './state.js';
import { readIndexFiles, writeIndexFiles } from './persist.js';
import { avgFieldLength, clauseWeight, DEFAULT_PARAMS, idf, normInverseCache, termScore } from './similarity.js';
import type { BM25Params } from './similarity.js';
import type { FrozenPostings } from './postings.js';
import { intToByte4 } from './small-float.js';

export interface BM25IndexOptions {
  k1?: number;
  b?: number;
}

export interface BM25Hit {
  id: string;
  text: string;
  /** Lucene BM25 score (a float32 value). */
  score: number;
  metadata?: Record<string, Scalar>;
}

export interface BM25SearchOptions {
  k: number;
  filter?: SearchFilter;
}

export interface BM25Stats {
  /** Live documents stored. */
  documents: number;
  /** Documents with at least one term (Lucene's docCount). */
  docCount: number;
  sumTotalTermFreq: number;
  terms: number;
  postings: number;
  /** Bytes held by the frozen postings, block metadata and norms (texts excluded). */
  postingsBytes: number;
}

function checkParams(options: BM25IndexOptions): BM25Params {
  const k1 = options.k1 ?? DEFAULT_PARAMS.k1;
  const b = options.b ?? DEFAULT_PARAMS.b;
  if (!Number.isFinite(k1) || k1 < 0) throw new ConfigError('k1', `must be a finite number >= 0 (got ${k1})`);
  if (!Number.isFinite(b) || b < 0 || b > 1) throw new ConfigError('b', `must be between 0 and 1 (got ${b})`);
  return { k1, b };
}

/** Counts of each distinct term in a token list. */
function termCounts(tokens: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const t of tokens) counts.set(t, (counts.get(t) ?? 0) + 1);
  return counts;
}

/**
 * An in-process inverted index scoring exactly as Lucene 8's BM25Similarity with the standard analyzer.
 *
 * It is either building (growable per-term postings, deletions marked) or frozen (compressed blocks, compacted
 * doc numbers). Searching freezes; indexing after a freeze thaws. Both are internal: callers just call
 * `add`/`search`/`save`.
 */
export class BM25Index {
  readonly params: Readonly<BM25Params>;

  private terms: string[] = [];
  private termIds = new Map<string, number>();
  private df: number[] = [];

  private ids: string[] = [];
  private texts: string[] = [];
  private metadata: Array<Record<string, Scalar> | undefined> = [];
  private norms: Uint8Array = new Uint8Array(1024);
  private deleted: Uint8Array = new Uint8Array(1024);
  private deletedCount = 0;
  private idToDoc = new Map<string, number>();
  private docCount = 0;
  private sumTotalTermFreq = 0;

  // Building state: interleaved (doc, freq) pairs per term.
  private building: { pairs: Int32Array[]; lengths: number[] } | undefined = { pairs: [], lengths: [] };
  // Frozen state.
  private frozen: { postings: FrozenPostings; normCache: Float32Array } | undefined;

  constructor(options: BM25IndexOptions = {}) {
    this.params = Object.freeze(checkParams(options));
  }

  /** Live passages stored. */
  get size(): number {
    return this.ids.length - this.deletedCount;
  }

  has(id: string): boolean {
    return this.idToDoc.has(id);
  }

  stats(): BM25Stats {
    this.freeze();
    const p = this.frozen!.postings;
    const postings = this.df.reduce((a, b) => a + b, 0);
    const postingsBytes =
      p.bytes.byteLength +
      p.termBlockStart.byteLength +
      p.blockLastDoc.byteLength +
      p.blockOffset.byteLength +
      p.blockMaxFreq.byteLength +
      p.blockMinNorm.byteLength +
      this.ids.length; // norms
    return {
      documents: this.size,
      docCount: this.docCount,
      sumTotalTermFreq: this.sumTotalTermFreq,
      terms: this.terms.length,
      postings,
      postingsBytes,
    };
  }

  /**
   * Adds (or replaces, by id) one passage. Throws ValidationError for a passage without a usable id or text;
   * the index is unchanged then.
   */
  add(passage: Passage): void {
    if (passage === null || typeof passage !== 'object') throw new ValidationError('passage', 'must be an object');
    if (typeof passage.id !== 'string' || passage.id === '')
      throw new ValidationError('id', 'must be a non-empty string');
    if (typeof passage.text !== 'string') throw new ValidationError('text', `must be a string (passage ${passage.id})`);
    const tokens = analyze(passage.text, DEFAULT_MAX_TOKEN_LENGTH);
    this.thaw();
    const old = this.idToDoc.get(passage.id);
    if (old !== undefined) this.deleteDoc(old);

    const doc = this.ids.length;
    if (doc >= NO_MORE_DOCS - 1) throw new ValidationError('passage', 'index is full (2^31 documents)');
    this.ids.push(passage.id);
    this.texts.push(passage.text);
    this.metadata.push(
      passage.metadata && Object.keys(passage.metadata).length > 0 ? { ...passage.metadata } : undefined,
    );
    this.idToDoc.set(passage.id, doc);
    if (doc >= this.norms.length) {
      const grow = (a: Uint8Array) => {
        const next = new Uint8Array(a.length * 2);
        next.set(a);
        return next;
      };
      this.norms = grow(this.norms);
      this.deleted = grow(this.deleted);
    }
    this.norms[doc] = intToByte4(tokens.length);
    if (tokens.length === 0) return;
    this.docCount++;
    this.sumTotalTermFreq += tokens.length;
    const b = this.building!;
    for (const [term, freq] of termCounts(tokens)) {
      let t = this.termIds.get(term);
      if (t === undefined) {
        t = this.terms.length;
        this.terms.push(term);
        this.termIds.set(term, t);
        this.df.push(0);
        b.pairs.push(new Int32Array(4));
        b.lengths.push(0);
      }
      this.df[t]!++;
      let arr = b.pairs[t]!;
      const len = b.lengths[t]!;
      if (len + 2 > arr.length) {
        const next = new Int32Array(arr.length * 2);
        next.set(arr);
        arr = next;
        b.pairs[t] = arr;
      }
      arr[len] = doc;
      arr[len + 1] = freq;
      b.lengths[t] = len + 2;
    }
  }

  /** Removes a passage by id; returns whether it was there. */
  delete(id: string): boolean {
    const doc = this.idToDoc.get(id);
    if (doc === undefined) return false;
    this.thaw();
    this.deleteDoc(doc);
    return true;
  }

  private deleteDoc(doc: number): void {
    // Statistics follow live documents only (Lucene keeps deleted documents in them until a merge).
    const tokens = analyze(this.texts[doc]!, DEFAULT_MAX_TOKEN_LENGTH);
    if (tokens.length > 0) {
      this.docCount--;
      this.sumTotalTermFreq -= tokens.length;
      for (const term of termCounts(tokens).keys()) this.df[this.termIds.get(term)!]!--;
    }
    this.deleted[doc] = 1;
    this.deletedCount++;
    this.idToDoc.delete(this.ids[doc]!);
  }

  /** Compacts deletions and encodes the postings into blocks. Idempotent; search() calls it. */
  freeze(): void {
    if (this.frozen) return;
    const b = this.building!;
    const n = this.ids.length;
    const remap = new Int32Array(n);
    let live = 0;
    for (let d = 0; d < n; d++) remap[d] = this.deleted[d] ? -1 : live++;

    const T = this.terms.length;
    let totalBlocks = 0;
    for (let t = 0; t < T; t++) totalBlocks += Math.ceil(this.df[t]! / BLOCK_SIZE);
    const termBlockStart = new Uint32Array(T + 1);
    const blockLastDoc = new Int32Array(totalBlocks);
    const blockOffset = new Float64Array(totalBlocks + 1);
    const blockMaxFreq = new Uint32Array(totalBlocks);
    const blockMinNorm = new Uint8Array(totalBlocks);
    const writer = new ByteWriter(1 << 20);
    let block = 0;
    for (let t = 0; t < T; t++) {
      termBlockStart[t] = block;
      const pairs = b.pairs[t]!;
      const len = b.lengths[t]!;
      let prev = -1;
      let inBlock = 0;
      let maxFreq = 0;
      let minNorm = 255;
      for (let i = 0; i < len; i += 2) {
        const doc = remap[pairs[i]!]!;
        if (doc < 0) continue;
        const freq = pairs[i + 1]!;
        if (inBlock === 0) blockOffset[block] = writer.length;
        writer.varint((doc - prev) * 2 + (freq === 1 ? 1 : 0));
        if (freq !== 1) writer.varint(freq);
        prev = doc;
        if (freq > maxFreq) maxFreq = freq;
        const norm = this.norms[pairs[i]!]!;
        if (norm < minNorm) minNorm = norm;
        if (++inBlock === BLOCK_SIZE) {
          blockLastDoc[block] = doc;
          blockMaxFreq[block] = maxFreq;
          blockMinNorm[block] = minNorm;
          block++;
          inBlock = 0;
          maxFreq = 0;
          minNorm = 255;
        }
      }
      if (inBlock > 0) {
        blockLastDoc[block] = prev;
        blockMaxFreq[block] = maxFreq;
        blockMinNorm[block] = minNorm;
        block++;
      }
      b.pairs[t] = new Int32Array(0); // release as we go
    }
    termBlockStart[T] = block;
    blockOffset[block] = writer.length;
    if (block !== totalBlocks) throw new Error(`internal: block count ${block} != ${totalBlocks}`);

    if (this.deletedCount > 0) {
      const keep = <X>(a: X[]) => a.filter((_, d) => remap[d]! >= 0);
      this.ids = keep(this.ids);
      this.texts = keep(this.texts);
      this.metadata = keep(this.metadata);
      const norms = new Uint8Array(Math.max(live, 1));
      for (let d = 0; d < n; d++) if (remap[d]! >= 0) norms[remap[d]!] = this.norms[d]!;
      this.norms = norms;
      this.deleted = new Uint8Array(norms.length);
      this.deletedCount = 0;
      this.idToDoc = new Map(this.ids.map((id, d) => [id, d]));
    }
    this.building = undefined;
    this.frozen = {
      postings: { termBlockStart, blockLastDoc, blockOffset, blockMaxFreq, blockMinNorm, bytes: writer.finish() },
      normCache: normInverseCache(this.params, avgFieldLength(this.sumTotalTermFreq, this.docCount)),
    };
  }

  /** Decodes frozen postings back into growable lists so that documents can be added or removed. */
  private thaw(): void {
    if (this.building) return;
    const p = this.frozen!.postings;
    const pairs: Int32Array[] = [];
    const lengths: number[] = [];
    for (let t = 0; t < this.terms.length; t++) {
      const df = this.df[t]!;
      const arr = new Int32Array(Math.max(4, df * 2));
      const cursor = new PostingsCursor(p, p.termBlockStart[t]!, p.termBlockStart[t + 1]!);
      let i = 0;
      for (let d = cursor.doc; d !== NO_MORE_DOCS; d = cursor.next()) {
        arr[i++] = d;
        arr[i++] = cursor.freq;
      }
      pairs.push(arr);
      lengths.push(i);
    }
    const n = this.ids.length;
    const cap = Math.max(1024, n * 2);
    const norms = new Uint8Array(cap);
    norms.set(this.norms.subarray(0, n));
    this.norms = norms;
    this.deleted = new Uint8Array(cap);
    this.deletedCount = 0;
    this.building = { pairs, lengths };
    this.frozen = undefined;
  }

  /** The analysed query as Lucene rewrites a `match` query: one clause per distinct term, boost = repetitions. */
  private clauses(query: string): Array<{ term: number; weight: number }> {
    const out: Array<{ term: number; weight: number }> = [];
    for (const [term, count] of termCounts(analyze(query, DEFAULT_MAX_TOKEN_LENGTH))) {
      const t = this.termIds.get(term);
      if (t === undefined || this.df[t]! === 0) continue;
      out.push({ term: t, weight: clauseWeight(count, idf(this.df[t]!, this.docCount)) });
    }
    return out;
  }

  /** Top-k documents (internal numbers and scores), best first. */
  searchDocs(query: string, options: BM25SearchOptions): Array<{ doc: number; score: number }> {
    const k = options.k;
    if (!Number.isInteger(k) || k < 1) throw new ValidationError('k', `must be a positive integer (got ${k})`);
    this.freeze();
    const { postings: p, normCache } = this.frozen!;
    const clauses = this.clauses(query);
    if (clauses.length === 0) return [];
    const filter = options.filter && Object.keys(options.filter).length > 0 ? options.filter : undefined;
    const metadata = this.metadata;
    const norms = this.norms;

    // Per-clause score upper bound from block maxima (monotone in freq and in 1/norm).
    const m = clauses.length;
    const items = clauses.map(({ term, weight }) => {
      const first = p.termBlockStart[term]!;
      const end = p.termBlockStart[term + 1]!;
      let ub = 0;
      for (let bl = first; bl < end; bl++) {
        const s = termScore(weight, p.blockMaxFreq[bl]!, normCache[p.blockMinNorm[bl]!]!);
        if (s > ub) ub = s;
      }
      return { weight, ub, cursor: new PostingsCursor(p, first, end) };
    });
    items.sort((a, b) => a.ub - b.ub);
    const cursors = items.map((x) => x.cursor);
    const weights = Float64Array.from(items, (x) => x.weight);
    // prefix[i] = sum of upper bounds of items[0..i], slightly inflated against double rounding.
    const prefix = new Float64Array(m);
    let acc = 0;
    for (let i = 0; i < m; i++) {
      acc += items[i]!.ub;
      prefix[i] = acc * (1 + 1e-9);
    }

    const top = new TopK(k);
    let threshold = -Infinity;
    let firstEssential = 0;
    for (;;) {
      let doc = NO_MORE_DOCS;
      for (let i = firstEssential; i < m; i++) {
        const d = cursors[i]!.doc;
        if (d < doc) doc = d;
      }
      if (doc === NO_MORE_DOCS) break;
      let score = 0;
      const ni = normCache[norms[doc]!]!;
      for (let i = firstEssential; i < m; i++) {
        const c = cursors[i]!;
        if (c.doc === doc) {
          score += termScore(weights[i]!, c.freq, ni);
          c.next();
        }
      }
      if (filter && !matchesFilter(metadata[doc], filter)) continue;
      let pruned = false;
      for (let i = firstEssential - 1; i >= 0; i--) {
        if (score + prefix[i]! <= threshold) {
          pruned = true;
          break;
        }
        const c = cursors[i]!;
        if (c.advance(doc) === doc) score += termScore(weights[i]!, c.freq, ni);
      }
      if (pruned) continue;
      const s = Math.fround(score);
      if (s > threshold || !top.full) {
        top.push(doc, s);
        if (top.full) {
          threshold = top.threshold;
          while (firstEssential < m && prefix[firstEssential]! <= threshold) firstEssential++;
          if (firstEssential === m) break;
        }
      }
    }
    return top.sorted().map(({ row, score }) => ({ doc: row, score }));
  }

  search(query: string, options: BM25SearchOptions): BM25Hit[] {
    return this.searchDocs(query, options).map(({ doc, score }) => {
      const meta = this.metadata[doc];
      return { id: this.ids[doc]!, text: this.texts[doc]!, score, ...(meta ? { metadata: { ...meta } } : {}) };
    });
  }

  /** Frozen arrays for persistence (freezes first). */
  exportState(): FrozenState {
    this.freeze();
    return {
      params: { ...this.params },
      terms: this.terms,
      df: Int32Array.from(this.df),
      postings: this.frozen!.postings,
      norms: this.norms.subarray(0, this.ids.length),
      ids: this.ids,
      texts: this.texts,
      metadata: this.metadata,
      docCount: this.docCount,
      sumTotalTermFreq: this.sumTotalTermFreq,
    };
  }

  /** Saves the index into `dir` (compact binary files plus a manifest with format version and parameters). */
  async save(dir: string): Promise<void> {
    await writeIndexFiles(dir, this.exportState());
  }

  /**
   * Loads an index saved by `save`. A format/analyzer version mismatch, or `k1`/`b` given here that differ from
   * the saved ones, is refused with a ConfigError naming the field.
   */
  static async load(dir: string, options: BM25IndexOptions = {}): Promise<BM25Index> {
    return BM25Index.fromState(await readIndexFiles(dir, options));
  }

  /** Rebuilds an index from persisted frozen arrays. */
  static fromState(state: FrozenState): BM25Index {
    const index = new BM25Index(state.params);
    index.terms = state.terms;
    index.termIds = new Map(state.terms.map((t, i) => [t, i]));
    index.df = Array.from(state.df);
    index.ids = state.ids;
    index.texts = state.texts;
    index.metadata = state.metadata;
    index.norms = state.norms;
    index.deleted = new Uint8Array(state.norms.length);
    index.idToDoc = new Map(state.ids.map((id, d) => [id, d]));
    index.docCount = state.docCount;
    index.sumTotalTermFreq = state.sumTotalTermFreq;
    index.building = undefined;
    index.frozen = {
      postings: state.postings,
      normCache: normInverseCache(index.params, avgFieldLength(state.sumTotalTermFreq, state.docCount)),
    };
    return index;
  }
}
