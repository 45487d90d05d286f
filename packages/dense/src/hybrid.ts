import { ValidationError, validateK } from '@dotrank/core';
import type { Candidate, CandidateSource, IndexOptions, IndexReport, Passage, SearchOptions } from '@dotrank/core';

/** A fused first-stage candidate: `score` is the fused score; the per-source scores ride along when present. */
export interface HybridCandidate extends Candidate {
  bm25Score?: number;
  denseScore?: number;
}

export type HybridFusion = 'rrf' | 'interpolate';

export interface HybridSourceOptions {
  /** Lexical source (embedded BM25 or Elasticsearch). */
  bm25: CandidateSource;
  /** Dense source. */
  dense: CandidateSource;
  /** `rrf` (default): sum of 1 / (rrfK + rank). `interpolate`: alpha * minmax(bm25) + (1 - alpha) * minmax(dense). */
  fusion?: HybridFusion;
  /** RRF constant (default 60, Cormack et al. 2009). */
  rrfK?: number;
  /** Weight of BM25 in `interpolate` (0..1, default 0.5). */
  alpha?: number;
  /** Candidates asked of each source (default: the k of the search). More gives the fusion a deeper union. */
  depth?: number;
  /** Return the whole fused union (up to 2 x depth) instead of the best k, so a reranker scores all of it. */
  keepUnion?: boolean;
}

function minMax(list: Candidate[]): (score: number) => number {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const c of list) {
    if (c.score < lo) lo = c.score;
    if (c.score > hi) hi = c.score;
  }
  const span = hi - lo;
  return (s) => (span > 0 ? (s - lo) / span : 1);
}

/**
 * Fuses two ranked lists, de-duplicated by id, into one list best first (ties by id). Pure: exported for tests and
 * for callers that fetched the lists themselves. A candidate missing from one list contributes nothing from it
 * (RRF) or 0 after min-max normalisation (interpolate).
 */
export function fuseCandidates(
  bm25: Candidate[],
  dense: Candidate[],
  options: { fusion?: HybridFusion; rrfK?: number; alpha?: number } = {},
): HybridCandidate[] {
  const fusion = options.fusion ?? 'rrf';
  const rrfK = options.rrfK ?? 60;
  const alpha = options.alpha ?? 0.5;
  if (fusion !== 'rrf' && fusion !== 'interpolate')
    throw new ValidationError('fusion', `must be "rrf" or "interpolate" (got ${String(fusion)})`);
  if (!(rrfK >= 0) || !Number.isFinite(rrfK))
    throw new ValidationError('rrfK', `must be a finite number >= 0 (got ${rrfK})`);
  if (!(alpha >= 0 && alpha <= 1)) throw new ValidationError('alpha', `must be between 0 and 1 (got ${alpha})`);
  const merged = new Map<string, HybridCandidate>();
  const take = (
    list: Candidate[],
    side: 'bm25Score' | 'denseScore',
    contribution: (c: Candidate, rank: number) => number,
  ) => {
    list.forEach((c, i) => {
      let m = merged.get(c.id);
      if (!m) {
        m = { id: c.id, text: c.text, score: 0 };
        if (c.metadata) m.metadata = c.metadata;
        merged.set(c.id, m);
      } else if (m[side] !== undefined) return; // a duplicate inside one list: its best rank counted already
      m[side] = c.score;
      m.score += contribution(c, i + 1);
    });
  };
  if (fusion === 'rrf') {
    take(bm25, 'bm25Score', (_c, rank) => 1 / (rrfK + rank));
    take(dense, 'denseScore', (_c, rank) => 1 / (rrfK + rank));
  } else {
    const nb = minMax(bm25);
    const nd = minMax(dense);
    take(bm25, 'bm25Score', (c) => alpha * nb(c.score));
    take(dense, 'denseScore', (c) => (1 - alpha) * nd(c.score));
  }
  return [...merged.values()].sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** BM25 + dense candidates fused (`kind: 'hybrid'`). Indexing goes to both sources; `count` is the BM25 one. */
export class HybridSource implements CandidateSource {
  readonly kind = 'hybrid' as const;
  readonly bm25: CandidateSource;
  readonly dense: CandidateSource;
  private readonly options: HybridSourceOptions;

  constructor(options: HybridSourceOptions) {
    if (!options?.bm25 || !options?.dense)
      throw new ValidationError(
        !options?.bm25 ? 'bm25' : 'dense',
        'the hybrid source needs both a BM25 and a dense source',
      );
    if (options.depth !== undefined && (!Number.isInteger(options.depth) || options.depth < 1)) {
      throw new ValidationError('depth', `must be an integer >= 1 (got ${options.depth})`);
    }
    fuseCandidates([], [], options); // validates fusion, rrfK, alpha
    this.bm25 = options.bm25;
    this.dense = options.dense;
    this.options = options;
  }

  async search(query: string, options: SearchOptions): Promise<HybridCandidate[]> {
    const k = validateK(options?.k);
    const depth = Math.max(k, this.options.depth ?? k);
    const sub: SearchOptions = {
      k: depth,
      ...(options.filter ? { filter: options.filter } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    };
    const [lexical, dense] = await Promise.all([this.bm25.search(query, sub), this.dense.search(query, sub)]);
    const fused = fuseCandidates(lexical, dense, this.options);
    return this.options.keepUnion ? fused : fused.slice(0, k);
  }

  /** Indexes into both sources (the input is read once and kept in memory to feed the second). */
  async index(passages: AsyncIterable<Passage> | Iterable<Passage>, options: IndexOptions = {}): Promise<IndexReport> {
    const started = performance.now();
    const all: Passage[] = [];
    for await (const p of passages) all.push(p);
    const a = await this.bm25.index(all, options);
    const b = await this.dense.index(all, options);
    const failures = [
      ...a.failures,
      ...b.failures.filter((f) => !a.failures.some((x) => x.id === f.id && x.reason === f.reason)),
    ];
    return {
      indexed: Math.min(a.indexed, b.indexed),
      failed: Math.max(a.failed, b.failed),
      skipped: Math.max(a.skipped, b.skipped),
      failures,
      durationMs: performance.now() - started,
    };
  }

  async count(): Promise<number> {
    return this.bm25.count();
  }

  async close(): Promise<void> {
    await Promise.all([this.bm25.close(), this.dense.close()]);
  }
}
