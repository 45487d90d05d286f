import { withDeadline, type DenseEncoder } from '@dotrank/core';
import type { VectorStore } from '@dotrank/vector-cache';
import { rerankDeadline } from './errors.js';
import { rerankCandidates, type CandidateWindows } from './pipeline.js';
import { DEFAULT_MAX_CANDIDATES, validateRerankRequest } from './schemas.js';
import { LoadShedder } from './shedding.js';
import type { Reranker, RerankOptions, RerankRequest, RerankResult } from './types.js';

export interface InProcessRerankerOptions {
  encoder: DenseEncoder;
  store: VectorStore;
  /** Passages per encoder call for cache misses (DOTRANK_BATCH_SIZE, default 32). */
  batchSize?: number;
  /** Upper bound on candidates per request (DOTRANK_MAX_CANDIDATES, default 1000). */
  maxCandidates?: number;
  /** Long documents split into passage windows, scored by DOTRANK_DOC_SCORE (absent: whole texts, truncated). */
  windows?: CandidateWindows;
  /** close() also closes the encoder and the store (default false: the caller owns them). */
  closeResources?: boolean;
}

/** Reranks in this process (embedded mode, tests, and the reference the queue path must match). */
export class InProcessReranker implements Reranker {
  private readonly options: InProcessRerankerOptions;
  /** Reranks under way in this process and their recent throughput: refuses a rerank that could not finish in time. */
  readonly shedder = new LoadShedder();

  constructor(options: InProcessRerankerOptions) {
    this.options = options;
  }

  async rerank(req: RerankRequest, opts: RerankOptions = {}): Promise<RerankResult> {
    const valid = validateRerankRequest(req, this.options.maxCandidates ?? DEFAULT_MAX_CANDIDATES);
    const deadline = rerankDeadline(opts);
    // fusion bm25 runs no model: nothing to wait for
    if (valid.fusion === 'bm25')
      return withDeadline((signal) => rerankCandidates(valid, this.options, { signal }), deadline);
    // expected wait past the deadline: answer now (degraded, overloaded) rather than wait it out
    const finished = this.shedder.admit(opts.deadlineMs);
    // answer the caller on time even while an encoder call is still running (the work stops at its next checkpoint);
    // the work counts as under way until it has really stopped
    return withDeadline((signal) => {
      const work = rerankCandidates(valid, this.options, { signal });
      work.then(
        () => finished(!signal.aborted),
        () => finished(false),
      );
      return work;
    }, deadline);
  }

  async close(): Promise<void> {
    if (this.options.closeResources) {
      await this.options.store.close();
      await this.options.encoder.close();
    }
  }
}
