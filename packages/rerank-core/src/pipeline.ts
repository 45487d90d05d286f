import { DotrankError, ModelError, ValidationError, dot, type DenseEncoder, type Passage } from '@dotrank/core';
import type { PassageWindow } from '@dotrank/encoder';
import { scoreCached, textHash, type VectorKey, type VectorStore } from '@dotrank/vector-cache';
import { aggregateWindows, parseDocScore } from './doc-score.js';
import { RerankAbortedError } from './errors.js';
import { fuse } from './fusion.js';
import type { RerankRequest, RerankResult, RerankTimings } from './types.js';
import { lookupOf, resultFromColumns, windowedLookupOf, type RerankColumns, type RerankJob } from './wire.js';

export const DEFAULT_BATCH_SIZE = 32;

export interface PipelineDeps {
  encoder: DenseEncoder;
  store: VectorStore;
  /** Passages per encoder call when encoding cache misses (default 32). */
  batchSize?: number;
  /** Long documents split into passage windows (absent: each candidate's whole text, truncated by the encoder). */
  windows?: CandidateWindows;
}

/** How candidates are split into windows and how window scores make a candidate's score. */
export interface CandidateWindows {
  /** The windows of one text (e.g. encoder.splitIntoWindows with the configured sizes). */
  split: (text: string) => PassageWindow[];
  /** A DOTRANK_DOC_SCORE name other than `first` (parseDocScore). */
  docScore: string;
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
 * What the rerank step needs of a rerank job (wire.ts): the query and fusion options and the candidates' lookup
 * (ids, text hashes and first-stage scores as columns). A queue job is one as it is; the in-process path builds one
 * from its candidates (lookupOf).
 */
export type RerankWork = Pick<RerankJob, 'query' | 'fusion' | 'k' | 'alpha' | 'normalization' | 'lookup' | 'docScore'>;

/**
 * The texts of the lookup's hashes in order (the candidates' texts, or their windows' when they were split): called at
 * most once, only to encode cache misses.
 */
export type TextsLoader = () => readonly string[] | Promise<readonly string[]>;

/** A text the encoder cannot take: such a candidate is placed without a dense score (see fuse). */
export function isTextless(text: string): boolean {
  return text.trim() === '';
}

/**
 * The rerank step for candidates in hand (InProcessReranker): rerankLookup over their lookup, the result made of
 * its columns. The request must be valid (see validateRerankRequest).
 */
export async function rerankCandidates(
  req: RerankRequest,
  deps: PipelineDeps,
  control?: PipelineControl,
): Promise<RerankResult> {
  const { candidates } = req;
  // hashing the texts is part of reading the cache (the cache key holds the hash); bm25 reads none
  const hashStart = now();
  const split = req.fusion !== 'bm25' && deps.windows ? windowedLookupOf(candidates, deps.windows.split) : undefined;
  const lookup = split?.lookup ?? lookupOf(candidates, req.fusion !== 'bm25');
  const hashMs = now() - hashStart;
  const work = { query: req.query, fusion: req.fusion, k: req.k, alpha: req.alpha, normalization: req.normalization };
  const docScore = split ? { docScore: deps.windows!.docScore } : {};
  const texts = () => split?.texts ?? candidates.map((c) => c.text);
  const columns = await rerankLookup({ ...work, ...docScore, lookup }, texts, deps, control);
  const t = now();
  const result = resultFromColumns(columns, candidates, split?.windows);
  if (typeof result === 'string') throw new DotrankError('internal', `rerank produced malformed columns (${result})`);
  const { timings } = result;
  if (columns.fusion !== 'bm25') timings.cacheReadMs += hashMs;
  const extra = now() - t;
  timings.scoreMs += extra;
  timings.totalMs += extra + hashMs;
  return result;
}

/**
 * The rerank step, shared by the in-process path and the queue worker: encode the query, read cached passage
 * vectors, encode the misses in batches and write them back, score (dot product), fuse. The texts are asked for only
 * when some vectors are not cached: a worker reads the cache (and scores a warm job) without ever fetching them.
 * The answer is the wire result's columns.
 */
export async function rerankLookup(
  work: RerankWork,
  texts: TextsLoader,
  deps: PipelineDeps,
  control?: PipelineControl,
): Promise<RerankColumns> {
  const start = now();
  const timings: RerankTimings = { encodeQueryMs: 0, cacheReadMs: 0, encodeMissesMs: 0, scoreMs: 0, totalMs: 0 };
  const { lookup } = work;
  const model = work.fusion === 'bm25' ? undefined : await modelScores(work, texts, deps, control, timings);
  const scoreStart = now();
  const textless = model?.textless ?? [];
  const ranked = fuse(
    { ids: lookup.ids, scores: lookup.scores, ...(model ? { tasbScores: model.scores } : {}) },
    { mode: work.fusion, alpha: work.alpha, normalization: work.normalization, k: work.k },
    textless,
  );
  timings.scoreMs = now() - scoreStart;
  timings.totalMs = now() - start;
  const columns: RerankColumns = {
    ranked,
    fusion: work.fusion,
    timings,
    cache: { hits: model?.hits ?? 0, misses: model?.misses ?? 0 },
  };
  if (textless.length > 0) columns.textless = textless;
  if (model?.passages) {
    const { best, score } = model.passages;
    const reranked = ranked.tasbScore?.length ?? 0;
    const picked = ranked.index.slice(0, reranked);
    columns.passages = { window: picked.map((i) => best[i]!), score: picked.map((i) => score[i]!) };
  }
  return columns;
}

/**
 * TAS-B scores of every candidate: the query's encoding and the cache read run together (the store scores cached
 * vectors as it decodes them, so the read ends with scores, not vectors), then the misses are encoded and cached.
 */
async function modelScores(
  work: RerankWork,
  texts: TextsLoader,
  deps: PipelineDeps,
  control: PipelineControl | undefined,
  timings: RerankTimings,
): Promise<ModelScores> {
  const { textHashes } = work.lookup;
  const windowed = textHashes.some((hashes) => hashes.length > 1);
  const flat = await keyScores(work, texts, deps, control, timings, windowed);
  if (!windowed) return flat;
  // a candidate's windows are consecutive keys: its score is their aggregate (a textless one has one window)
  const mode = parseDocScore(work.docScore ?? 'first', 'docScore');
  const n = textHashes.length;
  const scores = new Float64Array(n);
  const best = new Int32Array(n);
  const bestScore = new Float64Array(n);
  const owner = new Int32Array(flat.scores.length);
  for (let i = 0, from = 0; i < n; i++) {
    const to = from + textHashes[i]!.length;
    owner.fill(i, from, to);
    const doc = aggregateWindows(flat.scores, from, to, mode);
    scores[i] = doc.score;
    best[i] = doc.best;
    bestScore[i] = flat.scores[from + doc.best]!;
    from = to;
  }
  const textless = flat.textless.map((k) => owner[k]!);
  return { ...flat, scores, textless, passages: { best, score: bestScore } };
}

interface ModelScores {
  /** One dense score per candidate. */
  scores: Float64Array;
  hits: number;
  misses: number;
  textless: number[];
  /** When candidates had several windows: each one's best window and its score. */
  passages?: { best: Int32Array; score: Float64Array };
}

/** Dense scores of every key of the lookup: one per candidate, or one per window when `windowed`. */
async function keyScores(
  work: RerankWork,
  texts: TextsLoader,
  deps: PipelineDeps,
  control: PipelineControl | undefined,
  timings: RerankTimings,
  windowed: boolean,
): Promise<ModelScores> {
  checkpoint(control);
  const t = now();
  const queryPromise = deps.encoder.encodeQueries([work.query]).then(([v]) => {
    timings.encodeQueryMs = now() - t;
    if (!v) throw new ModelError('encoder returned no query vector');
    return v;
  });
  const { ids, textHashes } = work.lookup;
  const keys = windowed
    ? ids.flatMap((id, i) => textHashes[i]!.map((textHash): VectorKey => ({ id, textHash })))
    : ids.map((id, i): VectorKey => ({ id, textHash: textHashes[i]![0]! }));
  const cachedPromise = scoreCached(deps.store, keys, queryPromise).then((v) => {
    timings.cacheReadMs = now() - t;
    return v;
  });
  const [queryVector, cached] = await Promise.all([queryPromise, cachedPromise]);
  checkpoint(control);
  const missIdx: number[] = [];
  for (let i = 0; i < keys.length; i++) if (!cached.hit[i]) missIdx.push(i);
  let textless: number[] = [];
  if (missIdx.length > 0) {
    const missStart = now();
    const work = { keys, queryVector, scores: cached.scores, missIdx };
    textless = await encodeMisses(await texts(), deps, control, work);
    timings.encodeMissesMs = now() - missStart;
  }
  // a textless candidate is counted apart, not as a cache miss
  return {
    scores: cached.scores,
    hits: keys.length - missIdx.length,
    misses: missIdx.length - textless.length,
    textless,
  };
}

/**
 * Encodes the missing passages in batches, scores them into `scores` and writes their vectors to the store. Returns
 * the positions of the misses with no text (never cached, since the encoder refuses them): nothing to encode.
 */
async function encodeMisses(
  texts: readonly string[],
  deps: PipelineDeps,
  control: PipelineControl | undefined,
  work: { keys: VectorKey[]; queryVector: Float32Array; scores: Float64Array; missIdx: number[] },
): Promise<number[]> {
  const { keys, queryVector, scores } = work;
  const batchSize = Math.max(1, deps.batchSize ?? DEFAULT_BATCH_SIZE);
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
 * With `windows`, each passage's windows are cached (what a windowed rerank reads); the counts are then of windows,
 * `done` and `total` of passages.
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
  // passages whose every window is in `batch` or before it: done once the batch is flushed
  let queued = 0;
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
    done += queued;
    queued = 0;
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
    if (options.windows) for (const w of options.windows.split(text)) batch.push({ id: p.id, text: w.text });
    else batch.push({ id: p.id, text });
    queued++;
    if (batch.length >= batchSize) await flush();
  }
  await flush();
  return { encoded, skipped, blank };
}
