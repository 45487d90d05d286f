import type { Candidate, CandidateSource, IndexReport, Passage, SearchOptions } from '@dotrank/core';
import { matchesFilter } from '@dotrank/core';
import type { RerankCallOptions, RerankRequest, RerankResult, RerankerLike } from '../src/types.js';

/** A tiny term-overlap candidate source: score = number of query terms in the passage. */
export class FakeSource implements CandidateSource {
  readonly kind = 'bm25' as const;
  readonly passages = new Map<string, Passage>();
  reachable = true;
  calls = 0;

  async search(query: string, options: SearchOptions): Promise<Candidate[]> {
    this.calls++;
    const terms = query.toLowerCase().split(/\W+/).filter(Boolean);
    const out: Candidate[] = [];
    for (const p of this.passages.values()) {
      if (!matchesFilter(p.metadata, options.filter)) continue;
      const words = new Set(p.text.toLowerCase().split(/\W+/));
      const score = terms.filter((t) => words.has(t)).length;
      if (score > 0) out.push({ id: p.id, text: p.text, score, ...(p.metadata ? { metadata: p.metadata } : {}) });
    }
    return out.sort((a, b) => b.score - a.score || a.id.localeCompare(b.id)).slice(0, options.k);
  }
  async index(passages: Iterable<Passage>): Promise<IndexReport> {
    let n = 0;
    for (const p of passages) {
      this.passages.set(p.id, p);
      n++;
    }
    return { indexed: n, failed: 0, skipped: 0, failures: [], durationMs: 0 };
  }
  async count(): Promise<number> {
    if (!this.reachable) throw new Error('source down');
    return this.passages.size;
  }
  async close(): Promise<void> {}
}

/**
 * A reranker with controllable behaviour. Its "model" scores a passage by its length (shorter = higher), which
 * differs from the term-overlap order, so reordering is visible.
 */
export class FakeReranker implements RerankerLike {
  delayMs = 0;
  failWith: Error | undefined;
  calls: RerankRequest[] = [];
  closed = false;

  async rerank(req: RerankRequest, opts: RerankCallOptions = {}): Promise<RerankResult> {
    this.calls.push(req);
    if (this.delayMs) {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, this.delayMs);
        opts.signal?.addEventListener('abort', () => {
          clearTimeout(t);
          reject(new Error('aborted'));
        });
      });
    }
    if (this.failWith) throw this.failWith;
    const scored = req.candidates.map((c) => ({ c, tasb: 100 / c.text.length }));
    scored.sort((a, b) => b.tasb - a.tasb);
    const results = scored.slice(0, req.k ?? scored.length).map(({ c, tasb }, i) => ({
      id: c.id,
      rank: i + 1,
      score: tasb,
      bm25Score: c.score,
      tasbScore: tasb,
      text: c.text,
    }));
    return {
      results,
      fusion: req.fusion,
      timings: { encodeQueryMs: 1, cacheReadMs: 0.5, encodeMissesMs: 2, scoreMs: 0.1, totalMs: 3.6, queueWaitMs: 0.2 },
      cache: { hits: 1, misses: req.candidates.length - 1 },
    };
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

export const PASSAGES: Passage[] = [
  {
    id: 'p1',
    text: 'The boundary layer on a flat plate at supersonic speed, a long description of flow.',
    metadata: { topic: 'flow' },
  },
  { id: 'p2', text: 'Heat transfer in the boundary layer.', metadata: { topic: 'heat' } },
  { id: 'p3', text: 'Structural vibration of thin wings under aerodynamic load.', metadata: { topic: 'structures' } },
  {
    id: 'p4',
    text: 'Shock waves and the boundary layer: an interaction study of the flat plate.',
    metadata: { topic: 'flow' },
  },
];
