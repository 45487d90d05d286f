import { ModelError, dot, type DenseEncoder, type Passage } from '@dotrank/core';
import { scoreCached, type VectorKey, type VectorStore } from '@dotrank/vector-cache';
import { RerankAbortedError, RerankTimeoutError } from './errors.js';
import { fuse } from './fusion.js';
import type { RankedItem, RerankRequest, RerankResult, RerankTimings } from './types.js';

export const DEFAULT_BATCH_SIZE = 32;

export interface PipelineDeps {
  encoder: DenseEncoder;
  store: VectorStore;
  /** Passages per encoder call when encoding cache misses (default 32). */
  batchSize?: number;
}

export interface PipelineControl {
  /** Absolute deadline, ms since epoch. */
  deadlineAt?: number;
  signal?: AbortSignal;
  /** Called after each batch of encoded misses (for job progress / lock-friendly yields). */
  onBatch?: (done: number, total: number) => void | Promise<void>;
  /**
   * The query's encoding, already started by the caller (performance.now() at its start): the worker starts it
   * before it has read the candidates. Without it the step encodes `req.query` itself.
   */
  queryEncoding?: { vector: Promise<Float32Array>; startedAt: number };
}

/** Per-stage figures beyond the timings: what metrics want. */
export interface PipelineObserver {
  onMissBatch?(size: number): void;
}

const now = () => performance.now();

function checkpoint(control: PipelineControl | undefined, deadlineMs: number | undefined): void {
  if (control?.signal?.aborted) throw new RerankAbortedError(String(control.signal.reason ?? 'rerank aborted'));
  if (control?.deadlineAt !== undefined && Date.now() > control.deadlineAt) {
    throw new RerankTimeoutError(deadlineMs ?? 0, 'rerank passed its deadline');
  }
}

/**
 * The rerank step, shared by InProcessReranker and the queue worker: encode the query, read cached passage vectors,
 * encode the misses in batches and write them back, score (dot product), fuse. The request must be valid
 * (see validateRerankRequest).
 */
export async function rerankCandidates(
  req: RerankRequest,
  deps: PipelineDeps,
  control?: PipelineControl & { deadlineMs?: number; observer?: PipelineObserver },
): Promise<RerankResult> {
  const start = now();
  const timings: RerankTimings = { encodeQueryMs: 0, cacheReadMs: 0, encodeMissesMs: 0, scoreMs: 0, totalMs: 0 };
  const { candidates } = req;
  let hits = 0;
  let misses = 0;
  let tasbScores: number[] | undefined;
  let scoreStart = 0;

  if (req.fusion !== 'bm25') {
    const { encoder } = deps;
    const batchSize = Math.max(1, deps.batchSize ?? DEFAULT_BATCH_SIZE);
    checkpoint(control, control?.deadlineMs);

    // the query and the cache read do not depend on each other: run them together. The store scores the cached
    // vectors as they are decoded (scoreCached), so the cache read ends with their TAS-B scores, not vectors.
    let t = now();
    const started = control?.queryEncoding;
    const queryStart = started?.startedAt ?? t;
    const encoding = started ? started.vector : encoder.encodeQueries([req.query]).then(([v]) => v);
    const queryPromise = encoding.then((v) => {
      timings.encodeQueryMs = now() - queryStart;
      if (!v) throw new ModelError('encoder returned no query vector');
      return v;
    });
    const keys: VectorKey[] = candidates.map((c) => ({ id: c.id, text: c.text }));
    const cachedPromise = scoreCached(deps.store, keys, queryPromise).then((v) => {
      timings.cacheReadMs = now() - t;
      return v;
    });
    const [queryVector, cached] = await Promise.all([queryPromise, cachedPromise]);
    checkpoint(control, control?.deadlineMs);

    const scores = Array.from(cached.scores);
    const missIdx: number[] = [];
    for (let i = 0; i < candidates.length; i++) {
      if (cached.hit[i]) hits++;
      else missIdx.push(i);
    }
    misses = missIdx.length;

    t = now();
    for (let b = 0; b < missIdx.length; b += batchSize) {
      const batch = missIdx.slice(b, b + batchSize);
      const encoded = await encoder.encodePassages(batch.map((i) => candidates[i]!.text));
      if (encoded.length !== batch.length) throw new ModelError(`encoder returned ${encoded.length} vectors for ${batch.length} passages`);
      batch.forEach((i, j) => {
        const v = encoded[j]!;
        if (v.length !== queryVector.length) {
          throw new ModelError(`passage ${candidates[i]!.id} vector has dimension ${v.length}, query has ${queryVector.length}`);
        }
        scores[i] = dot(queryVector, v);
      });
      await deps.store.setMany(batch.map((i, j) => ({ key: keys[i]!, vector: encoded[j]! })));
      control?.observer?.onMissBatch?.(batch.length);
      await control?.onBatch?.(Math.min(b + batchSize, missIdx.length), missIdx.length);
      checkpoint(control, control?.deadlineMs);
    }
    timings.encodeMissesMs = missIdx.length > 0 ? now() - t : 0;

    scoreStart = now();
    tasbScores = scores;
  }

  if (!tasbScores) scoreStart = now();
  const fused = fuse(
    candidates.map((c, i) => (tasbScores ? { id: c.id, bm25Score: c.score, tasbScore: tasbScores[i]! } : { id: c.id, bm25Score: c.score })),
    { mode: req.fusion, alpha: req.alpha, normalization: req.normalization, k: req.k },
  );
  // explicit fields, no per-item object spread (slow in V8's hot paths)
  const results: RankedItem[] = fused.map((f) => {
    const item: RankedItem = { id: f.id, rank: f.rank, score: f.score, bm25Score: f.bm25Score, text: candidates[f.index]!.text };
    if (f.tasbScore !== undefined) item.tasbScore = f.tasbScore;
    return item;
  });
  timings.scoreMs = now() - scoreStart;
  timings.totalMs = now() - start;
  return { results, fusion: req.fusion, timings, cache: { hits, misses } };
}

/**
 * The text a passage is encoded (and cached) under: its `text`, which is the whole passage as the first stage searched
 * and returned it (corpus readers already put a title into it, BEIR style). `title` is for display only, so a
 * candidate from any source and the same passage warmed from the corpus share one cache key.
 */
export function passageText(p: Pick<Passage, 'text'>): string {
  return p.text;
}

export interface WarmOptions extends PipelineDeps {
  onProgress?: (progress: { done: number; total?: number; encoded: number; skipped: number }) => void | Promise<void>;
  signal?: AbortSignal;
  /** Total count, when known, for progress. */
  total?: number;
}

/**
 * Precomputes passage vectors into the store. Resumable: passages already cached are skipped (one MGET per batch).
 */
export async function warmPassages(
  passages: Iterable<Passage> | AsyncIterable<Passage>,
  options: WarmOptions,
): Promise<{ encoded: number; skipped: number; blank: number }> {
  const batchSize = Math.max(1, options.batchSize ?? DEFAULT_BATCH_SIZE);
  let encoded = 0;
  let skipped = 0;
  // passages with no text have nothing to encode (the encoder refuses them): counted, never silently lost
  let blank = 0;
  let done = 0;
  let batch: VectorKey[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    if (options.signal?.aborted) throw new RerankAbortedError('warm aborted');
    const cached = await options.store.getMany(batch);
    const todo = batch.filter((_, i) => !cached[i]);
    skipped += batch.length - todo.length;
    if (todo.length > 0) {
      const vectors = await options.encoder.encodePassages(todo.map((k) => k.text));
      if (vectors.length !== todo.length) throw new ModelError(`encoder returned ${vectors.length} vectors for ${todo.length} passages`);
      await options.store.setMany(todo.map((key, i) => ({ key, vector: vectors[i]! })));
      encoded += todo.length;
    }
    done += batch.length;
    batch = [];
    await options.onProgress?.({ done, total: options.total, encoded, skipped });
  };
  for await (const p of passages as AsyncIterable<Passage>) {
    const text = passageText(p);
    if (text.trim() === '') {
      blank++;
      done++;
      continue;
    }
    batch.push({ id: p.id, text });
    if (batch.length >= batchSize) await flush();
  }
  await flush();
  return { encoded, skipped, blank };
}
