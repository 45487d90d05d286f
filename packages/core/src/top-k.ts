/**
 * A bounded min-heap keeping the k largest scores seen (ties: the smaller row wins, so results are deterministic
 * whatever order rows arrive in). A row is the caller's integer id: a matrix row, a BM25 doc number. Rows and scores
 * live in typed arrays; nothing is allocated per push. Shared by the BM25 and dense searches.
 */
export class TopK {
  readonly rows: Int32Array;
  readonly scores: Float64Array;
  size = 0;

  constructor(readonly k: number) {
    this.rows = new Int32Array(k);
    this.scores = new Float64Array(k);
  }

  get full(): boolean {
    return this.size === this.k;
  }

  /** The smallest score kept, or -Infinity while fewer than k are held. */
  get threshold(): number {
    return this.size < this.k ? Number.NEGATIVE_INFINITY : this.scores[0]!;
  }

  /** True when (a) ranks below (b): a lower score, or the same score and a larger row. */
  private static below(sa: number, ra: number, sb: number, rb: number): boolean {
    return sa < sb || (sa === sb && ra > rb);
  }

  push(row: number, score: number): void {
    const { rows, scores } = this;
    if (this.size < this.k) {
      let i = this.size++;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!TopK.below(score, row, scores[parent]!, rows[parent]!)) break;
        rows[i] = rows[parent]!;
        scores[i] = scores[parent]!;
        i = parent;
      }
      rows[i] = row;
      scores[i] = score;
      return;
    }
    if (!TopK.below(scores[0]!, rows[0]!, score, row)) return;
    // Replace the root and sift down.
    let i = 0;
    const n = this.size;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && TopK.below(scores[r]!, rows[r]!, scores[l]!, rows[l]!)) c = r;
      if (!TopK.below(scores[c]!, rows[c]!, score, row)) break;
      rows[i] = rows[c]!;
      scores[i] = scores[c]!;
      i = c;
    }
    rows[i] = row;
    scores[i] = score;
  }

  /** The kept entries, best first. */
  sorted(): Array<{ row: number; score: number }> {
    const out: Array<{ row: number; score: number }> = [];
    for (let i = 0; i < this.size; i++) out.push({ row: this.rows[i]!, score: this.scores[i]! });
    out.sort((a, b) => b.score - a.score || a.row - b.row);
    return out;
  }
}
