import { ValidationError, dotAt, mulberry32Step } from '@dotrank/core';
import { validateHnswParams } from './ann.js';
import type { AnnGraph, HnswParams } from './ann.js';
import type { VectorHit } from './exact.js';

export type { HnswParams } from './ann.js';

/**
 * HNSW (Malkov & Yashunin, 2018) in inner-product space over a shared row-major Float32Array matrix: the `js`
 * backend. The `hnswlib` backend (hnswlib-node, see hnswlib.ts) is the default when that optional package loads;
 * this one is the fallback that needs nothing native (see README "Approximate index").
 *
 * Layout: level-0 links in one Int32Array (capacity x M0, M0 = 2M), link counts in a Uint8Array, upper-level links
 * per node in a small Int32Array ([count, links...] per level); levels in a Uint8Array. The vectors are not copied:
 * the index reads rows of the matrix it is given (the exact index's).
 */
export interface HnswState {
  dim: number;
  M: number;
  efConstruction: number;
  efSearch: number;
  seed: number;
  count: number;
  entry: number;
  maxLevel: number;
  rngState: number;
  levels: Uint8Array;
  counts0: Uint8Array;
  links0: Int32Array;
  upper: (Int32Array | undefined)[];
}

/** A growable binary heap of (score, id); `max` pops the largest score first, otherwise the smallest. */
class Heap {
  ids: Int32Array;
  scores: Float64Array;
  size = 0;
  constructor(
    private readonly max: boolean,
    capacity = 64,
  ) {
    this.ids = new Int32Array(capacity);
    this.scores = new Float64Array(capacity);
  }
  clear(): void {
    this.size = 0;
  }
  private before(a: number, b: number): boolean {
    return this.max ? this.scores[a]! > this.scores[b]! : this.scores[a]! < this.scores[b]!;
  }
  private swap(a: number, b: number): void {
    const i = this.ids[a]!;
    this.ids[a] = this.ids[b]!;
    this.ids[b] = i;
    const s = this.scores[a]!;
    this.scores[a] = this.scores[b]!;
    this.scores[b] = s;
  }
  push(id: number, score: number): void {
    if (this.size === this.ids.length) {
      const ids = new Int32Array(this.size * 2);
      ids.set(this.ids);
      this.ids = ids;
      const scores = new Float64Array(this.size * 2);
      scores.set(this.scores);
      this.scores = scores;
    }
    let i = this.size++;
    this.ids[i] = id;
    this.scores[i] = score;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }
  topId(): number {
    return this.ids[0]!;
  }
  topScore(): number {
    return this.scores[0]!;
  }
  pop(): void {
    const last = --this.size;
    if (last === 0) return;
    this.ids[0] = this.ids[last]!;
    this.scores[0] = this.scores[last]!;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= last) break;
      const r = l + 1;
      const c = r < last && this.before(r, l) ? r : l;
      if (!this.before(c, i)) break;
      this.swap(c, i);
      i = c;
    }
  }
}

export class HnswIndex implements AnnGraph {
  readonly backend = 'js' as const;
  readonly dim: number;
  readonly M: number;
  readonly M0: number;
  readonly efConstruction: number;
  efSearch: number;
  readonly seed: number;
  private matrix: Float32Array;
  private count = 0;
  private entry = -1;
  private maxLevel = -1;
  private rngState: number;
  private levels: Uint8Array;
  private counts0: Uint8Array;
  private links0: Int32Array;
  private upper: (Int32Array | undefined)[] = [];
  private visited: Uint32Array;
  private visitTag = 0;
  private readonly mL: number;
  private readonly candidates = new Heap(true);
  private readonly results = new Heap(false);

  constructor(dim: number, matrix: Float32Array, params: HnswParams = {}) {
    const { M, efConstruction: efC, efSearch: efS, seed } = validateHnswParams(params);
    this.dim = dim;
    this.M = M;
    this.M0 = 2 * M;
    this.efConstruction = efC;
    this.efSearch = efS;
    this.seed = seed;
    this.rngState = this.seed;
    this.mL = 1 / Math.log(M);
    this.matrix = matrix;
    const capacity = 1024;
    this.levels = new Uint8Array(capacity);
    this.counts0 = new Uint8Array(capacity);
    this.links0 = new Int32Array(capacity * this.M0);
    this.visited = new Uint32Array(capacity);
  }

  /** Nodes in the graph (rows 0..size-1 of the matrix). */
  get size(): number {
    return this.count;
  }

  /** Points the index at a (grown) matrix holding the same rows plus new ones. */
  setMatrix(matrix: Float32Array): void {
    this.matrix = matrix;
  }

  private grow(needed: number): void {
    if (needed <= this.levels.length) return;
    let capacity = this.levels.length;
    while (capacity < needed) capacity *= 2;
    const levels = new Uint8Array(capacity);
    levels.set(this.levels);
    this.levels = levels;
    const counts0 = new Uint8Array(capacity);
    counts0.set(this.counts0);
    this.counts0 = counts0;
    const links0 = new Int32Array(capacity * this.M0);
    links0.set(this.links0);
    this.links0 = links0;
    this.visited = new Uint32Array(capacity);
    this.visitTag = 0;
  }

  /** Row `a` of the matrix as a view (no copy), to score against other rows with core's dotAt. */
  private rowView(a: number): Float32Array {
    return this.matrix.subarray(a * this.dim, (a + 1) * this.dim);
  }

  /** The links of `node` at `level` as [array, offset of the first link, count]. */
  private linksOf(node: number, level: number): [Int32Array, number, number] {
    if (level === 0) return [this.links0, node * this.M0, this.counts0[node]!];
    const up = this.upper[node]!;
    const at = (level - 1) * (this.M + 1);
    return [up, at + 1, up[at]!];
  }

  private setLinks(node: number, level: number, ids: ArrayLike<number>, n: number): void {
    if (level === 0) {
      const base = node * this.M0;
      for (let i = 0; i < n; i++) this.links0[base + i] = ids[i]!;
      this.counts0[node] = n;
    } else {
      const up = this.upper[node]!;
      const at = (level - 1) * (this.M + 1);
      up[at] = n;
      for (let i = 0; i < n; i++) up[at + 1 + i] = ids[i]!;
    }
  }

  private nextTag(): number {
    if (++this.visitTag === 0xffffffff) {
      this.visited.fill(0);
      this.visitTag = 1;
    }
    return this.visitTag;
  }

  /** Greedy walk to the node of best inner product on one level. */
  private greedy(score: (row: number) => number, start: number, level: number): number {
    let best = start;
    let bestScore = score(start);
    for (let improved = true; improved;) {
      improved = false;
      const [arr, off, n] = this.linksOf(best, level);
      for (let i = 0; i < n; i++) {
        const c = arr[off + i]!;
        const s = score(c);
        if (s > bestScore) {
          bestScore = s;
          best = c;
          improved = true;
        }
      }
    }
    return best;
  }

  /** Best-first search of one level; leaves the ef best in `this.results` (a min-heap). */
  private searchLevel(score: (row: number) => number, start: number, ef: number, level: number): void {
    const tag = this.nextTag();
    const cand = this.candidates;
    const res = this.results;
    cand.clear();
    res.clear();
    const s0 = score(start);
    this.visited[start] = tag;
    cand.push(start, s0);
    res.push(start, s0);
    while (cand.size > 0) {
      const current = cand.topId();
      const cs = cand.topScore();
      if (res.size >= ef && cs < res.topScore()) break;
      cand.pop();
      const [arr, off, n] = this.linksOf(current, level);
      for (let i = 0; i < n; i++) {
        const c = arr[off + i]!;
        if (this.visited[c] === tag) continue;
        this.visited[c] = tag;
        const s = score(c);
        if (res.size < ef || s > res.topScore()) {
          cand.push(c, s);
          res.push(c, s);
          if (res.size > ef) res.pop();
        }
      }
    }
  }

  /** Drains `this.results` into arrays sorted best first. */
  private drainResults(): { ids: number[]; scores: number[] } {
    const res = this.results;
    const ids: number[] = new Array(res.size);
    const scores: number[] = new Array(res.size);
    for (let i = res.size - 1; i >= 0; i--) {
      ids[i] = res.topId();
      scores[i] = res.topScore();
      res.pop();
    }
    return { ids, scores };
  }

  /**
   * The neighbour-selection heuristic (the paper's Algorithm 4 without extension): take candidates best first and
   * keep one unless a kept neighbour is closer to it than the new node is (inner product: ip(c, kept) > ip(c, node)).
   */
  private selectNeighbors(ids: number[], scores: number[], max: number): number[] {
    if (ids.length <= max) return ids.slice();
    const kept: number[] = [];
    for (let i = 0; i < ids.length && kept.length < max; i++) {
      const c = this.rowView(ids[i]!);
      let good = true;
      for (const k of kept) {
        if (dotAt(c, this.matrix, k * this.dim) > scores[i]!) {
          good = false;
          break;
        }
      }
      if (good) kept.push(ids[i]!);
    }
    return kept;
  }

  /** Adds matrix row `row` (must be the next row: rows are inserted in order 0, 1, 2...). */
  add(row: number): void {
    if (row !== this.count)
      throw new ValidationError('row', `HNSW rows are added in order (expected ${this.count}, got ${row})`);
    if ((row + 1) * this.dim > this.matrix.length) throw new ValidationError('row', `row ${row} is outside the matrix`);
    this.grow(row + 1);
    const step = mulberry32Step(this.rngState);
    this.rngState = step.state;
    const r = step.bits / 4294967296;
    const level = Math.min(64, Math.floor(-Math.log(Math.max(r, 1e-12)) * this.mL));
    this.levels[row] = level;
    this.counts0[row] = 0;
    if (level > 0) this.upper[row] = new Int32Array(level * (this.M + 1));
    this.count++;
    if (this.entry < 0) {
      this.entry = row;
      this.maxLevel = level;
      return;
    }
    const q = this.rowView(row);
    const score = (c: number) => dotAt(q, this.matrix, c * this.dim);
    let ep = this.entry;
    for (let l = this.maxLevel; l > level; l--) ep = this.greedy(score, ep, l);
    for (let l = Math.min(level, this.maxLevel); l >= 0; l--) {
      this.searchLevel(score, ep, this.efConstruction, l);
      const { ids, scores } = this.drainResults();
      const chosen = this.selectNeighbors(ids, scores, this.M);
      this.setLinks(row, l, chosen, chosen.length);
      const cap = l === 0 ? this.M0 : this.M;
      for (const nb of chosen) this.link(nb, row, l, cap);
      ep = ids[0]!;
    }
    if (level > this.maxLevel) {
      this.maxLevel = level;
      this.entry = row;
    }
  }

  /**
   * Adds `to` to the links of `from`. When the list is full, the weakest link (lowest inner product with `from`) is
   * dropped if `to` beats it. (hnswlib re-runs the selection heuristic here; in JS that costs ~cap^2 dot products
   * per overflow and dominated build time, so overflow pruning keeps the best by score.)
   */
  private link(from: number, to: number, level: number, cap: number): void {
    const [arr, off, n] = this.linksOf(from, level);
    if (n < cap) {
      arr[off + n] = to;
      if (level === 0) this.counts0[from] = n + 1;
      else arr[off - 1] = n + 1;
      return;
    }
    let weakest = -1;
    const f = this.rowView(from);
    let weakestScore = dotAt(f, this.matrix, to * this.dim);
    for (let i = 0; i < n; i++) {
      const s = dotAt(f, this.matrix, arr[off + i]! * this.dim);
      if (s < weakestScore) {
        weakestScore = s;
        weakest = i;
      }
    }
    if (weakest >= 0) arr[off + weakest] = to;
  }

  /** The approximate top-k rows by inner product with `query`. */
  search(query: Float32Array, k: number, ef = this.efSearch): VectorHit[] {
    if (query.length !== this.dim)
      throw new ValidationError('query', `vector has ${query.length} dimensions, the index ${this.dim}`);
    if (this.entry < 0 || k < 1) return [];
    const score = (c: number) => dotAt(query, this.matrix, c * this.dim);
    let ep = this.entry;
    for (let l = this.maxLevel; l > 0; l--) ep = this.greedy(score, ep, l);
    this.searchLevel(score, ep, Math.max(ef, k), 0);
    const { ids, scores } = this.drainResults();
    const out: VectorHit[] = [];
    for (let i = 0; i < ids.length && out.length < k; i++) out.push({ row: ids[i]!, score: scores[i]! });
    return out;
  }

  /** Bytes of graph (links, counts, levels), not counting the shared vectors. */
  graphBytes(): number {
    let bytes = this.count * (this.M0 * 4 + 2);
    for (let i = 0; i < this.count; i++) bytes += this.upper[i]?.byteLength ?? 0;
    return bytes;
  }

  memoryBytes(): number {
    return this.graphBytes();
  }

  /** The state to persist (typed arrays trimmed to the node count). */
  state(): HnswState {
    return {
      dim: this.dim,
      M: this.M,
      efConstruction: this.efConstruction,
      efSearch: this.efSearch,
      seed: this.seed,
      count: this.count,
      entry: this.entry,
      maxLevel: this.maxLevel,
      rngState: this.rngState,
      levels: this.levels.subarray(0, this.count),
      counts0: this.counts0.subarray(0, this.count),
      links0: this.links0.subarray(0, this.count * this.M0),
      upper: this.upper.slice(0, this.count),
    };
  }

  static fromState(state: HnswState, matrix: Float32Array): HnswIndex {
    const index = new HnswIndex(state.dim, matrix, {
      M: state.M,
      efConstruction: state.efConstruction,
      efSearch: state.efSearch,
      seed: state.seed,
    });
    index.grow(Math.max(1, state.count));
    index.levels.set(state.levels);
    index.counts0.set(state.counts0);
    index.links0.set(state.links0);
    index.upper = state.upper.slice();
    index.count = state.count;
    index.entry = state.entry;
    index.maxLevel = state.maxLevel;
    index.rngState = state.rngState;
    return index;
  }
}
