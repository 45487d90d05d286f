/**
 * Top-k collector: a binary min-heap on (score ascending, doc descending), so its root is the entry that the
 * next better document displaces. Documents arrive in increasing doc order, so a newcomer that ties the root's
 * score loses (lower doc id wins ties, as in Lucene).
 */
export class TopK {
  readonly scores: Float64Array;
  readonly docs: Int32Array;
  size = 0;

  constructor(readonly k: number) {
    this.scores = new Float64Array(k);
    this.docs = new Int32Array(k);
  }

  get full(): boolean {
    return this.size === this.k;
  }

  /** Score a newcomer must beat (strictly) to enter; -Infinity until full. */
  get threshold(): number {
    return this.size === this.k ? this.scores[0]! : -Infinity;
  }

  private worse(i: number, j: number): boolean {
    const si = this.scores[i]!;
    const sj = this.scores[j]!;
    return si < sj || (si === sj && this.docs[i]! > this.docs[j]!);
  }

  private swap(i: number, j: number): void {
    const s = this.scores[i]!;
    this.scores[i] = this.scores[j]!;
    this.scores[j] = s;
    const d = this.docs[i]!;
    this.docs[i] = this.docs[j]!;
    this.docs[j] = d;
  }

  /** Offers a document met in increasing doc order. */
  offer(doc: number, score: number): void {
    if (this.size < this.k) {
      let i = this.size++;
      this.scores[i] = score;
      this.docs[i] = doc;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!this.worse(i, parent)) break;
        this.swap(i, parent);
        i = parent;
      }
      return;
    }
    if (!(score > this.scores[0]!)) return;
    this.scores[0] = score;
    this.docs[0] = doc;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < this.size && this.worse(l, m)) m = l;
      if (r < this.size && this.worse(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
  }

  /** Entries best first: score descending, then doc ascending. */
  sorted(): Array<{ doc: number; score: number }> {
    const out: Array<{ doc: number; score: number }> = [];
    for (let i = 0; i < this.size; i++) out.push({ doc: this.docs[i]!, score: this.scores[i]! });
    return out.sort((a, b) => b.score - a.score || a.doc - b.doc);
  }
}
