import { ModelError, ValidationError, dot, type DenseEncoder, type Passage } from '@dotrank/core';
import { scoreCached, textHash, type VectorKey, type VectorStore } from '@dotrank/vector-cache';
import { RerankAbortedError } from './errors.js';
import { fuseWithTextless, type FusedItem, type FusionInput } from './fusion.js';
import type { RankedItem, RerankRequest, RerankResult, RerankTimings } from './types.js';

export const DEFAULT_BATCH_SIZE = 32;

export interface PipelineDeps {
  encoder: DenseEncoder;
  store: VectorStore;
  /** Passages per encoder call when encoding cache misses (default 32). */
  batchSize?: number;
}

export interface PipelineControl {
  /** Stops the step at its next checkpoint, throwing the signal's reason (withDeadline aborts with its timeout error). */
  signal?: AbortSignal;
  /** Called after each batch of encoded misses (for job progress / lock-friendly yields). */
  onBatch?: (done: number, total: number) => void | Promise<void>;
  observer?: PipelineObserver;
}

/** Per-stage figures beyond the timings: what metrics want. */
export interface PipelineObserver {
  onMissBatch?(size: number): void;
}

const now = () => performance.now();

/** Between stages: stop once the caller's signal has aborted (with its reason, e.g. a RerankTimeoutError). */
function checkpoint(control: PipelineControl | undefined): void {
  const signal = control?.signal;
  if (signal?.aborted)
    throw signal.reason instanceof Error
      ? signal.reason
      : new RerankAbortedError(String(signal.reason ?? 'rerank aborted'));
}

/**
 * A rerank whose candidates are named by cache key (id plus text or text hash) and first-stage score. Their texts are
 * asked for only when some vectors are not cached: a queue worker given the producer's text hashes reads the cache
 * (and scores a warm job) without ever fetching the texts.
 */
export interface KeyedRerankRequest {
  query: string;
  fusion: RerankRequest['fusion'];
  k?: number;
  alpha?: number;
  normalization?: RerankRequest['normalization'];
  /** One per candidate, in order. A key that carries a `textHash` must carry the hash of the text `texts` gives. */
  keys: readonly VectorKey[];
  /** First-stage scores, one per candidate. */
  scores: ArrayLike<number>;
  /** The candidates' texts, in order: called at most once, only to encode cache misses. */
  texts: () => readonly string[] | Promise<readonly string[]>;
}

export interface KeyedRerankResult {
  /** Best first; `index` is the candidate's position in the request. */
  fused: FusedItem[];
  fusion: RerankRequest['fusion'];
  timings: RerankTimings;
  cache: { hits: number; misses: number };
  /** Positions of the candidates that had no text (empty or whitespace): not reranked, placed after the others. */
  textless: number[];
}

/** A text the encoder cannot take: such a candidate is placed without a dense score (see fuseWithTextless). */
export function isTextless(text: string): boolean {
  return text.trim() === '';
}

/**
 * The rerank step, shared by InProcessReranker and the queue worker: encode the query, read cached passage vectors,
 * encode the misses in batches and write them back, score (dot product), fuse. The request must be valid
 * (see validateRerankRequest).
 */
export async function rerankCandidates(
  req: RerankRequest,
  deps: PipelineDeps,
  control?: PipelineControl,
): Promise<RerankResult> {
  const { candidates } = req;
  const keyed = await rerankKeyed(
    {
      query: req.query,
      fusion: req.fusion,
      k: req.k,
      alpha: req.alpha,
      normalization: req.normalization,
      keys: candidates.map((c) => ({ id: c.id, text: c.text })),
      scores: candidates.map((c) => c.score),
      texts: () => candidates.map((c) => c.text),
    },
    deps,
    control,
  );
  const t = now();
  // explicit fields, no per-item object spread (slow in V8's hot paths)
  const results: RankedItem[] = keyed.fused.map((f) => {
    const item: RankedItem = {
      id: f.id,
      rank: f.rank,
      score: f.score,
      bm25Score: f.bm25Score,
      text: candidates[f.index]!.text,
    };
    if (f.tasbScore !== undefined) item.tasbScore = f.tasbScore;
    return item;
  });
  const extra = now() - t;
  keyed.timings.scoreMs += extra;
  keyed.timings.totalMs += extra;
  const result: RerankResult = { results, fusion: keyed.fusion, timings: keyed.timings, cache: keyed.cache };
  if (keyed.textless.length > 0) result.textless = keyed.textless.map((i) => candidates[i]!.id);
  return result;
}

/** rerankCandidates for candidates named by key and score (see KeyedRerankRequest). */
export async function rerankKeyed(
  req: KeyedRerankRequest,
  deps: PipelineDeps,
  control?: PipelineControl,
): Promise<KeyedRerankResult> {
  const start = now();
  const timings: RerankTimings = { encodeQueryMs: 0, cacheReadMs: 0, encodeMissesMs: 0, scoreMs: 0, totalMs: 0 };
  const n = req.keys.length;
  if (req.scores.length !== n)
    throw new ValidationError('scores', `holds ${req.scores.length} scores for ${n} candidates`);
  const model = req.fusion === 'bm25' ? undefined : await modelScores(req, deps, control, timings);
  const scoreStart = now();
  const items: FusionInput[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const id = req.keys[i]!.id;
    items[i] = model
      ? { id, bm25Score: req.scores[i]!, tasbScore: model.scores[i]! }
      : { id, bm25Score: req.scores[i]! };
  }
  const textless = model?.textless ?? [];
  const fused = fuseWithTextless(items, textless, {
    mode: req.fusion,
    alpha: req.alpha,
    normalization: req.normalization,
    k: req.k,
  });
  timings.scoreMs = now() - scoreStart;
  timings.totalMs = now() - start;
  return {
    fused,
    fusion: req.fusion,
    timings,
    cache: { hits: model?.hits ?? 0, misses: model?.misses ?? 0 },
    textless,
  };
}

/**
 * TAS-B scores of every candidate: the query's encoding and the cache read run together (the store scores cached
 * vectors as it decodes them, so the read ends with scores, not vectors), then the misses are encoded and cached.
 */
async function modelScores(
  req: KeyedRerankRequest,
  deps: PipelineDeps,
  control: PipelineControl | undefined,
  timings: RerankTimings,
): Promise<{ scores: Float64Array; hits: number; misses: number; textless: number[] }> {
  checkpoint(control);
  const t = now();
  const queryPromise = deps.encoder.encodeQueries([req.query]).then(([v]) => {
    timings.encodeQueryMs = now() - t;
    if (!v) throw new ModelError('encoder returned no query vector');
    return v;
  });
  const cachedPromise = scoreCached(deps.store, req.keys as VectorKey[], queryPromise).then((v) => {
    timings.cacheReadMs = now() - t;
    return v;
  });
  const [queryVector, cached] = await Promise.all([queryPromise, cachedPromise]);
  checkpoint(control);
  const missIdx: number[] = [];
  for (let i = 0; i < req.keys.length; i++) if (!cached.hit[i]) missIdx.push(i);
  let textless: number[] = [];
  if (missIdx.length > 0) {
    const missStart = now();
    textless = await encodeMisses(req, deps, control, { queryVector, scores: cached.scores, missIdx });
    timings.encodeMissesMs = now() - missStart;
  }
  // a textless candidate is counted apart, not as a cache miss
  return {
    scores: cached.scores,
    hits: req.keys.length - missIdx.length,
    misses: missIdx.length - textless.length,
    textless,
  };
}

/**
 * Encodes the missing passages in batches, scores them into `scores` and writes their vectors to the store. Returns
 * the positions of the misses with no text (never cached, since the encoder refuses them): nothing to encode.
 */
async function encodeMisses(
  req: KeyedRerankRequest,
  deps: PipelineDeps,
  control: PipelineControl | undefined,
  work: { queryVector: Float32Array; scores: Float64Array; missIdx: number[] },
): Promise<number[]> {
  const { keys } = req;
  const { queryVector, scores } = work;
  const batchSize = Math.max(1, deps.batchSize ?? DEFAULT_BATCH_SIZE);
  const texts = await req.texts();
  if (texts.length !== keys.length)
    throw new ValidationError('candidates', `holds ${texts.length} texts for ${keys.length} keys`);
  const textless = work.missIdx.filter((i) => isTextless(texts[i]!));
  const missIdx = textless.length > 0 ? work.missIdx.filter((i) => !isTextless(texts[i]!)) : work.missIdx;
  // a vector is cached under the key's text hash: it must be the hash of the text we encode
  const writeKeys = missIdx.map((i): VectorKey => {
    const key = keys[i]!;
    if (!('textHash' in key)) return key;
    if (textHash(texts[i]!) !== key.textHash)
      throw new ValidationError(`textHashes.${i}`, `is not the hash of candidate ${key.id}'s text`);
    return { id: key.id, text: texts[i]! };
  });
  for (let b = 0; b < missIdx.length; b += batchSize) {
    const batch = missIdx.slice(b, b + batchSize);
    const encoded = await deps.encoder.encodePassages(batch.map((i) => texts[i]!));
    if (encoded.length !== batch.length)
      throw new ModelError(`encoder returned ${encoded.length} vectors for ${batch.length} passages`);
    batch.forEach((i, j) => {
      const v = encoded[j]!;
      if (v.length !== queryVector.length)
        throw new ModelError(
          `passage ${keys[i]!.id} vector has dimension ${v.length}, query has ${queryVector.length}`,
        );
      scores[i] = dot(queryVector, v);
    });
    await deps.store.setMany(batch.map((_, j) => ({ key: writeKeys[b + j]!, vector: encoded[j]! })));
    control?.observer?.onMissBatch?.(batch.length);
    await control?.onBatch?.(Math.min(b + batchSize, missIdx.length), missIdx.length);
    checkpoint(control);
  }
  return textless;
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
  let batch: { id: string; text: string }[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    if (options.signal?.aborted) throw new RerankAbortedError('warm aborted');
    const cached = await options.store.getMany(batch);
    const todo = batch.filter((_, i) => !cached[i]);
    skipped += batch.length - todo.length;
    if (todo.length > 0) {
      const vectors = await options.encoder.encodePassages(todo.map((k) => k.text));
      if (vectors.length !== todo.length)
        throw new ModelError(`encoder returned ${vectors.length} vectors for ${todo.length} passages`);
      await options.store.setMany(todo.map((key, i) => ({ key, vector: vectors[i]! })));
      encoded += todo.length;
    }
    done += batch.length;
    batch = [];
    await options.onProgress?.({ done, total: options.total, encoded, skipped });
  };
  for await (const p of passages as AsyncIterable<Passage>) {
    const text = passageText(p);
    if (isTextless(text)) {
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
