import type { DenseEncoder } from '@dotrank/core';
import type { VectorStore } from '@dotrank/vector-cache';
import { RerankAbortedError, RerankTimeoutError } from './errors.js';
import { rerankCandidates } from './pipeline.js';
import { DEFAULT_MAX_CANDIDATES, validateRerankRequest } from './schemas.js';
import type { Reranker, RerankOptions, RerankRequest, RerankResult } from './types.js';

export interface InProcessRerankerOptions {
  encoder: DenseEncoder;
  store: VectorStore;
  /** Passages per encoder call for cache misses (DOTRANK_BATCH_SIZE, default 32). */
  batchSize?: number;
  /** Upper bound on candidates per request (DOTRANK_MAX_CANDIDATES, default 1000). */
  maxCandidates?: number;
  /** close() also closes the encoder and the store (default false: the caller owns them). */
  closeResources?: boolean;
}

/** Reranks in this process (embedded mode, tests, and the reference the queue path must match). */
export class InProcessReranker implements Reranker {
  private readonly options: InProcessRerankerOptions;

  constructor(options: InProcessRerankerOptions) {
    this.options = options;
  }

  async rerank(req: RerankRequest, opts: RerankOptions = {}): Promise<RerankResult> {
    const valid = validateRerankRequest(req, this.options.maxCandidates ?? DEFAULT_MAX_CANDIDATES);
    const { deadlineMs, signal } = opts;
    if (signal?.aborted) throw new RerankAbortedError();
    const deadlineAt = deadlineMs !== undefined ? Date.now() + deadlineMs : undefined;
    const work = rerankCandidates(valid, this.options, { deadlineAt, deadlineMs, signal });
    if (deadlineMs === undefined && !signal) return work;
    // answer the caller on time even while an encoder call is still running (the work stops at its next checkpoint)
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort: (() => void) | undefined;
    const guard = new Promise<never>((_, reject) => {
      if (deadlineMs !== undefined) timer = setTimeout(() => reject(new RerankTimeoutError(deadlineMs)), deadlineMs);
      if (signal) {
        onAbort = () => reject(new RerankAbortedError(String(signal.reason ?? 'rerank aborted')));
        signal.addEventListener('abort', onAbort, { once: true });
      }
    });
    work.catch(() => undefined);
    try {
      return await Promise.race([work, guard]);
    } finally {
      if (timer) clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
  }

  async close(): Promise<void> {
    if (this.options.closeResources) {
      await this.options.store.close();
      await this.options.encoder.close();
    }
  }
}
