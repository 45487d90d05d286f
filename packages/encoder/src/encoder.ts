import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { ModelError, ValidationError } from '@dotrank/core';
import type { DenseEncoder, DotrankConfig, Similarity } from '@dotrank/core';
import { readManifest } from './manifest.js';
import { startOrtHost } from './ort-host.js';
import type { Feed, InferenceThread, OrtHost } from './ort-host.js';
import type { ModelManifest } from './manifest.js';
import { clsPool, cosine, dot, meanPool } from './pooling.js';
import { MicroBatcher, type BatcherOptions } from './batcher.js';
import { CallCostModel, planQueryCalls } from './query-calls.js';
import {
  QueryVectorLru,
  queryCacheKey,
  redisQueryVectors,
  type QueryCacheRedis,
  type QueryCacheStats,
  type SharedQueryVectors,
} from './query-cache.js';
import { TextTokenizer } from './tokenizer.js';

export type TextKind = 'query' | 'passage';

export interface EncoderOptions {
  /** Texts per `session.run` (default 32). */
  batchSize?: number;
  /** ORT intra-op threads; 0 or absent lets ONNX Runtime choose (all cores). Inter-op is always 1, execution sequential. */
  intraOpThreads?: number;
  /**
   * ONNX Runtime execution providers in order of preference, e.g. `['cuda', 'cpu']` on a GPU machine whose
   * onnxruntime-node has its CUDA files installed (see the README). Default `['cpu']`.
   */
  executionProviders?: readonly ExecutionProvider[];
  /** Override the manifest's query max length (tokens incl. special tokens, 2..maxPositions). */
  queryMaxLength?: number;
  /** Override the manifest's passage max length (tokens incl. special tokens, 2..maxPositions). */
  passageMaxLength?: number;
  /**
   * Where `session.run` executes. 'worker' (default): a worker thread owns the ONNX Runtime session, so the
   * caller's event loop stays free during inference. 'main': on the calling thread, which onnxruntime-node
   * blocks for the whole batch (its `run` is a synchronous native call behind a setImmediate).
   */
  inferenceThread?: InferenceThread;
  /**
   * Let ONNX Runtime's idle threads spin waiting for work (its own default) instead of sleeping. Default false:
   * on a machine shared with the queue, Redis and the API, spinning threads slow everything else down, and the
   * worker benchmark measured lower query latency without it (DOTRANK_ORT_SPIN).
   */
  spinWait?: boolean;
  /**
   * Niceness of the inference thread and ONNX Runtime's threads, 0-19 (DOTRANK_ORT_NICE, whose default is 5; here the
   * default is 0 = the process's). Above 0, when the model and the event loop want the same cores, the event loop goes
   * first: the API holds its deadlines under overload. Linux only, and only with `inferenceThread: 'worker'` (the event
   * loop's own thread is never lowered; elsewhere a priority is the whole process's, so it is left alone).
   */
  inferenceNice?: number;
  /**
   * Query vectors kept in this process, by model revision and token ids (DOTRANK_QUERY_CACHE_SIZE); default 0 = no
   * query cache (then `sharedQueryVectors` is not used either).
   */
  queryCacheSize?: number;
  /** A query-vector tier shared by every process (redisQueryVectors; DOTRANK_QUERY_CACHE_TTL_SECONDS). */
  sharedQueryVectors?: SharedQueryVectors | ((dimension: number) => SharedQueryVectors);
  /**
   * Concurrent `encodeQueries` calls gathered into one inference call (DOTRANK_QUERY_BATCH, DOTRANK_BATCH_WAIT_MS);
   * default `{ maxSize: 1, waitMs: 0 }`: one query per call.
   */
  queryBatch?: BatcherOptions;
}

/**
 * The encoder options a process takes from its configuration; `overrides` win (CLI flags, tests). With `redis` (an
 * ioredis client the caller owns), query vectors are also shared through Redis under DOTRANK_KEY_PREFIX.
 */
export function encoderOptionsFromConfig(
  config: Pick<
    DotrankConfig,
    | 'DOTRANK_BATCH_SIZE'
    | 'DOTRANK_EXECUTION_PROVIDERS'
    | 'DOTRANK_ORT_THREADS'
    | 'DOTRANK_ORT_SPIN'
    | 'DOTRANK_ORT_NICE'
    | 'DOTRANK_QUERY_CACHE_SIZE'
    | 'DOTRANK_QUERY_CACHE_TTL_SECONDS'
    | 'DOTRANK_QUERY_BATCH'
    | 'DOTRANK_BATCH_WAIT_MS'
    | 'DOTRANK_KEY_PREFIX'
  >,
  overrides: EncoderOptions = {},
  redis?: QueryCacheRedis,
): EncoderOptions {
  return {
    batchSize: config.DOTRANK_BATCH_SIZE,
    executionProviders: config.DOTRANK_EXECUTION_PROVIDERS,
    ...(config.DOTRANK_ORT_THREADS > 0 ? { intraOpThreads: config.DOTRANK_ORT_THREADS } : {}),
    spinWait: config.DOTRANK_ORT_SPIN,
    inferenceNice: config.DOTRANK_ORT_NICE,
    queryCacheSize: config.DOTRANK_QUERY_CACHE_SIZE,
    queryBatch: { maxSize: config.DOTRANK_QUERY_BATCH, waitMs: config.DOTRANK_BATCH_WAIT_MS },
    ...(redis
      ? {
          sharedQueryVectors: (dimension: number) =>
            redisQueryVectors(redis, {
              keyPrefix: config.DOTRANK_KEY_PREFIX,
              ttlSeconds: config.DOTRANK_QUERY_CACHE_TTL_SECONDS,
              dimension,
            }),
        }
      : {}),
    ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)),
  };
}

const DEFAULT_BATCH_SIZE = 32;

/** Execution providers the encoder accepts (the names onnxruntime-node uses). */
export const EXECUTION_PROVIDERS = ['cpu', 'cuda', 'dml', 'coreml', 'webgpu'] as const;
export type ExecutionProvider = (typeof EXECUTION_PROVIDERS)[number];
/** Query inference calls: how many, the queries they carried, their real and padded tokens. */
export interface QueryCallStats {
  calls: number;
  queries: number;
  tokens: number;
  paddedTokens: number;
}
/** Texts tokenized between two yields to the event loop. */
const TOKENIZE_CHUNK = 64;

function intOption(name: string, value: number | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ValidationError(name, `must be an integer between ${min} and ${max} (got ${JSON.stringify(value)})`);
  }
  return value;
}

/** ORT's message on one line, without the C++ source location and signature it embeds. */
export function cleanOrtMessage(error: unknown): string {
  let message = (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
  const at = message.indexOf('/onnxruntime_src/');
  if (at >= 0) {
    let i = message.indexOf(' ', at);
    // Skip "Namespace::Function(args...) " that follows "file.cc:123 ".
    if (i >= 0) {
      let depth = 0;
      let j = i + 1;
      for (; j < message.length; j++) {
        const c = message[j];
        if (c === '(') depth++;
        else if (c === ')' && --depth === 0) break;
        else if (c === ' ' && depth === 0) break;
      }
      i = message[j] === ')' ? j + 1 : i;
      message = `${message.slice(0, at)}${message.slice(i).trimStart()}`;
    }
  }
  return message.slice(0, 300);
}

const firstLine = cleanOrtMessage;

type IntType = 'int64' | 'int32';

interface GraphPlan {
  inputType: IntType;
  hasTokenTypeIds: boolean;
  output: string;
  /** 3 = last_hidden_state to pool, 2 = already pooled; undefined until the first run when the graph does not say. */
  rank: 2 | 3 | undefined;
}

function planGraph(session: OrtHost, manifest: ModelManifest): GraphPlan {
  const where = manifest.graphPath;
  const inputs = new Map(session.inputMetadata.map((m) => [m.name, m]));
  for (const required of ['input_ids', 'attention_mask']) {
    if (!inputs.has(required)) {
      throw new ModelError(`graph has no "${required}" input (inputs: ${[...inputs.keys()].join(', ') || 'none'})`, {
        field: where,
      });
    }
  }
  const unknown = [...inputs.keys()].filter((n) => !['input_ids', 'attention_mask', 'token_type_ids'].includes(n));
  if (unknown.length > 0) {
    throw new ModelError(
      `graph has inputs dotrank cannot feed: ${unknown.join(', ')} (supported: input_ids, attention_mask, token_type_ids)`,
      { field: where },
    );
  }
  const idsMeta = inputs.get('input_ids')!;
  const inputType: IntType = idsMeta.isTensor && idsMeta.type === 'int32' ? 'int32' : 'int64';
  if (idsMeta.isTensor && idsMeta.type !== 'int64' && idsMeta.type !== 'int32') {
    throw new ModelError(`graph input "input_ids" has type ${idsMeta.type}; expected int64 or int32`, { field: where });
  }

  const outputs = session.outputMetadata;
  const names = outputs.map((o) => o.name);
  let output = manifest.output;
  if (!names.includes(output)) {
    if (manifest.outputExplicit) {
      throw new ModelError(`graph has no output "${output}" named by dotrank.json (outputs: ${names.join(', ')})`, {
        field: where,
      });
    }
    if (names.includes('sentence_embedding')) output = 'sentence_embedding';
    else if (names.length === 1) output = names[0]!;
    else
      throw new ModelError(
        `graph has no "last_hidden_state" output and several others (${names.join(', ')}); name one as "output" in dotrank.json`,
        { field: where },
      );
  }
  const meta = outputs.find((o) => o.name === output)!;
  let rank: 2 | 3 | undefined;
  if (meta.isTensor && meta.shape.length > 0) {
    if (meta.shape.length !== 2 && meta.shape.length !== 3) {
      throw new ModelError(
        `graph output "${output}" has ${meta.shape.length} dimensions; expected 3 ([batch, sequence, dim]) or 2 ([batch, dim], already pooled)`,
        { field: where },
      );
    }
    rank = meta.shape.length as 2 | 3;
    const last = meta.shape[meta.shape.length - 1];
    if (typeof last === 'number' && last !== manifest.dimension) {
      throw new ModelError(
        `dimension mismatch: graph output "${output}" has ${last} dimensions but the manifest says ${manifest.dimension}`,
        { field: where },
      );
    }
  }
  if (meta.isTensor && meta.type !== 'float32') {
    throw new ModelError(`graph output "${output}" has type ${meta.type}; expected float32`, { field: where });
  }
  return { inputType, hasTokenTypeIds: inputs.has('token_type_ids'), output, rank };
}

/**
 * A TAS-B style bi-encoder over ONNX Runtime: one model for queries and passages, vectors pooled from the
 * graph's `last_hidden_state` (CLS or mean) or taken as is from a pooled 2-D output.
 *
 * onnxruntime-node's `session.run` is async in name only: the native call runs on the JS thread and blocks it.
 * So by default the session lives in a worker thread and the caller's event loop stays free while a batch
 * computes (BullMQ lock renewal in the reranker worker depends on it); tokenization, on the calling thread,
 * yields to the event loop every 64 texts. Calls on one Encoder are serialised: one batch at a time.
 */
export class Encoder implements DenseEncoder {
  readonly modelId: string;
  readonly revision: string;
  readonly dimension: number;
  readonly similarity: Similarity;
  readonly batchSize: number;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly queryLru: QueryVectorLru | undefined;
  private readonly sharedQueries: SharedQueryVectors | undefined;
  /** Query encodings under way by cache key: concurrent requests for one query share one encoding. */
  private readonly queriesInFlight = new Map<string, Promise<Float32Array>>();
  private readonly queryStats: QueryCacheStats = { hits: 0, sharedHits: 0, misses: 0 };
  private readonly queryCalls: QueryCallStats = { calls: 0, queries: 0, tokens: 0, paddedTokens: 0 };
  private readonly queryCost = new CallCostModel();
  private readonly queryBatcher: MicroBatcher<number[], Float32Array>;

  /** @internal use loadEncoder() */
  constructor(
    readonly manifest: ModelManifest,
    private readonly session: OrtHost,
    private readonly tokenizer: TextTokenizer,
    private readonly plan: GraphPlan,
    batchSize: number,
    queries: { cacheSize: number; shared?: SharedQueryVectors; batch: BatcherOptions } = {
      cacheSize: 0,
      batch: { maxSize: 1, waitMs: 0 },
    },
  ) {
    this.modelId = manifest.modelId;
    this.revision = manifest.revision;
    this.dimension = manifest.dimension;
    this.similarity = manifest.similarity;
    this.batchSize = batchSize;
    if (queries.cacheSize > 0) {
      this.queryLru = new QueryVectorLru(queries.cacheSize);
      this.sharedQueries = queries.shared;
    }
    this.queryBatcher = new MicroBatcher(
      queries.batch,
      (batch) => this.runQueryBatch(batch),
      (task) => this.serialised(task),
    );
  }

  /** Inference calls that encoded queries since load: how well batching gathers and how much it pads. */
  queryCallStats(): QueryCallStats {
    return { ...this.queryCalls };
  }

  /** Query-cache counts since load (all zero when the query cache is off). */
  queryCacheStats(): QueryCacheStats {
    return { ...this.queryStats };
  }

  /** Similarity per the manifest: dot product (TAS-B) or cosine. */
  score(q: Float32Array, p: Float32Array): number {
    return this.similarity === 'cosine' ? cosine(q, p) : dot(q, p);
  }

  maxLength(kind: TextKind): number {
    return kind === 'query' ? this.manifest.queryMaxLength : this.manifest.passageMaxLength;
  }

  /** Token ids (with [CLS]/[SEP], truncated to the query or passage max length), as the Python tokenizers library gives them. */
  tokenize(texts: readonly string[], kind: TextKind): number[][] {
    const max = this.maxLength(checkKind(kind));
    return checkTexts(texts, false).map((t) => this.tokenizer.encode(t, max));
  }

  /**
   * Query vectors in input order, through the query cache (when on) and the query batcher: concurrent calls from
   * several requests run as one padded inference call. Each caller gets its own copy of a cached vector.
   */
  async encodeQueries(texts: readonly string[]): Promise<Float32Array[]> {
    if (this.closed) throw new ModelError('encoder is closed', { field: this.manifest.modelDir });
    checkTexts(texts, true);
    const max = this.manifest.queryMaxLength;
    const ids: number[][] = [];
    for (let start = 0; start < texts.length; start += TOKENIZE_CHUNK) {
      if (start > 0) await yieldToEventLoop();
      for (const text of texts.slice(start, start + TOKENIZE_CHUNK)) ids.push(this.tokenizer.encode(text, max));
    }
    return Promise.all(ids.map((row) => this.queryVector(row)));
  }

  private async queryVector(ids: number[]): Promise<Float32Array> {
    if (!this.queryLru) return this.queryBatcher.submit(ids);
    const key = queryCacheKey(this.modelId, this.revision, ids);
    const cached = this.queryLru.get(key);
    if (cached) {
      this.queryStats.hits++;
      return cached.slice();
    }
    let flight = this.queriesInFlight.get(key);
    if (flight) this.queryStats.hits++;
    else {
      flight = this.fetchQuery(key, ids).finally(() => this.queriesInFlight.delete(key));
      this.queriesInFlight.set(key, flight);
    }
    return (await flight).slice();
  }

  /** A query not in this process: from the shared tier, else encoded (and written to both tiers). */
  private async fetchQuery(key: string, ids: number[]): Promise<Float32Array> {
    const shared = await this.sharedQueries?.get(key);
    if (shared && shared.length === this.dimension) {
      this.queryStats.sharedHits++;
      this.queryLru!.set(key, shared);
      return shared;
    }
    this.queryStats.misses++;
    const vector = await this.queryBatcher.submit(ids);
    this.queryLru!.set(key, vector);
    void this.sharedQueries?.set(key, vector);
    return vector;
  }

  encodePassages(texts: readonly string[]): Promise<Float32Array[]> {
    return this.encode(texts, 'passage');
  }

  /** Vectors in input order. Batches group texts of similar token length; each is padded only to its own longest text. */
  async encode(texts: readonly string[], kind: TextKind): Promise<Float32Array[]> {
    if (this.closed) throw new ModelError('encoder is closed', { field: this.manifest.modelDir });
    const max = this.maxLength(checkKind(kind));
    checkTexts(texts, true);
    const ids: number[][] = [];
    for (let start = 0; start < texts.length; start += TOKENIZE_CHUNK) {
      if (start > 0) await yieldToEventLoop();
      for (const text of texts.slice(start, start + TOKENIZE_CHUNK)) ids.push(this.tokenizer.encode(text, max));
    }
    const order = ids.map((_, i) => i).sort((a, b) => ids[b]!.length - ids[a]!.length || a - b);
    const results = new Array<Float32Array>(texts.length);
    for (let start = 0; start < order.length; start += this.batchSize) {
      const batch = order.slice(start, start + this.batchSize);
      const vectors = await this.serialised(() => this.runBatch(batch.map((i) => ids[i]!)));
      batch.forEach((original, j) => {
        results[original] = vectors[j]!;
      });
    }
    return results;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.catch(() => undefined);
    await this.session.close();
  }

  private serialised<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Queries gathered by the batcher, sorted by length and cut into the calls that cost least by the cost model
   * learned from this encoder's own calls (query-calls.ts): a fixed part per call against padding.
   */
  private async runQueryBatch(batch: number[][]): Promise<Float32Array[]> {
    const order = batch.map((_, i) => i).sort((a, b) => batch[a]!.length - batch[b]!.length);
    const out = new Array<Float32Array>(batch.length);
    const sizes = planQueryCalls(
      order.map((i) => batch[i]!.length),
      this.queryCost.overheadTokens(),
    );
    let next = 0;
    for (const size of sizes) {
      const group = order.slice(next, next + size);
      next += size;
      const rows = group.map((i) => batch[i]!);
      const padded = rows.length * rows[rows.length - 1]!.length;
      this.queryCalls.calls++;
      this.queryCalls.queries += rows.length;
      this.queryCalls.tokens += rows.reduce((a, r) => a + r.length, 0);
      this.queryCalls.paddedTokens += padded;
      const started = performance.now();
      const vectors = await this.runBatch(rows);
      this.queryCost.observe(padded, performance.now() - started);
      group.forEach((i, j) => (out[i] = vectors[j]!));
    }
    return out;
  }

  /** One `session.run` on a batch padded to its longest member. */
  private async runBatch(batch: number[][]): Promise<Float32Array[]> {
    const rows = batch.length;
    const width = Math.max(...batch.map((b) => b.length));
    const size = rows * width;
    const int64 = this.plan.inputType === 'int64';
    const idData = int64 ? new BigInt64Array(size) : new Int32Array(size);
    const maskData = int64 ? new BigInt64Array(size) : new Int32Array(size);
    const pad = this.tokenizer.padId;
    for (let r = 0; r < rows; r++) {
      const row = batch[r]!;
      for (let c = 0; c < width; c++) {
        const k = r * width + c;
        const present = c < row.length;
        const id = present ? row[c]! : pad;
        if (int64) {
          (idData as BigInt64Array)[k] = BigInt(id);
          (maskData as BigInt64Array)[k] = present ? 1n : 0n;
        } else {
          (idData as Int32Array)[k] = id;
          (maskData as Int32Array)[k] = present ? 1 : 0;
        }
      }
    }
    const dims = [rows, width];
    const type = this.plan.inputType;
    const feeds: Feed[] = [
      { name: 'input_ids', type, data: idData, dims },
      { name: 'attention_mask', type, data: maskData, dims },
    ];
    if (this.plan.hasTokenTypeIds) {
      feeds.push({ name: 'token_type_ids', type, data: int64 ? new BigInt64Array(size) : new Int32Array(size), dims });
    }
    const firstTokenOnly = this.plan.rank === 3 && this.manifest.pooling === 'cls';
    let result;
    try {
      result = await this.session.run(feeds, this.plan.output, firstTokenOnly);
    } catch (error) {
      throw new ModelError(`ONNX Runtime failed on a batch of ${rows}x${width} tokens: ${firstLine(error)}`, {
        field: this.manifest.graphPath,
        cause: error,
      });
    }
    if (result.type !== 'float32') {
      throw new ModelError(`graph output "${this.plan.output}" is ${result.type}, not float32`, {
        field: this.manifest.graphPath,
      });
    }
    const data = result.data;
    const shape = result.dims;
    const dim = shape[shape.length - 1];
    if (dim !== this.dimension) {
      throw new ModelError(
        `dimension mismatch: graph output "${this.plan.output}" has ${dim} dimensions but the manifest says ${this.dimension}`,
        { field: this.manifest.graphPath },
      );
    }
    const vectors: Float32Array[] = [];
    if (shape.length === 3 && shape[0] === rows && shape[1] === width) {
      for (let r = 0; r < rows; r++) {
        vectors.push(
          this.manifest.pooling === 'mean'
            ? meanPool(data, r, width, dim, batch[r]!.length)
            : clsPool(data, r, width, dim),
        );
      }
    } else if (shape.length === 2 && shape[0] === rows) {
      for (let r = 0; r < rows; r++) vectors.push(data.slice(r * dim, (r + 1) * dim));
    } else {
      throw new ModelError(
        `graph output "${this.plan.output}" has shape [${shape.join(', ')}] for a ${rows}x${width} batch; expected [batch, sequence, dim] or [batch, dim]`,
        { field: this.manifest.graphPath },
      );
    }
    return vectors;
  }
}

function checkKind(kind: TextKind): TextKind {
  if (kind !== 'query' && kind !== 'passage')
    throw new ValidationError('kind', `must be "query" or "passage" (got ${JSON.stringify(kind)})`);
  return kind;
}

function checkTexts(texts: readonly string[], rejectBlank: boolean): readonly string[] {
  if (!Array.isArray(texts)) throw new ValidationError('texts', 'must be an array of strings');
  texts.forEach((text, i) => {
    if (typeof text !== 'string')
      throw new ValidationError(`texts[${i}]`, `must be a string (got ${text === null ? 'null' : typeof text})`);
    if (rejectBlank && text.trim() === '')
      throw new ValidationError(`texts[${i}]`, 'must not be empty or only whitespace');
  });
  return texts;
}

/** Loads a model directory (see readManifest) into an Encoder; every failure is a ModelError/NotFoundError/ValidationError naming the file or field. */
export async function loadEncoder(modelDir: string, options: EncoderOptions = {}): Promise<Encoder> {
  const base = await readManifest(modelDir);
  const batchSize = intOption('batchSize', options.batchSize, 1, 4096) ?? DEFAULT_BATCH_SIZE;
  const intraOpThreads = intOption('intraOpThreads', options.intraOpThreads, 0, 1024) ?? 0;
  const manifest: ModelManifest = {
    ...base,
    queryMaxLength: intOption('queryMaxLength', options.queryMaxLength, 2, base.maxPositions) ?? base.queryMaxLength,
    passageMaxLength:
      intOption('passageMaxLength', options.passageMaxLength, 2, base.maxPositions) ?? base.passageMaxLength,
  };
  const executionProviders = options.executionProviders ?? ['cpu'];
  if (
    !Array.isArray(executionProviders) ||
    executionProviders.length === 0 ||
    executionProviders.some((p) => !EXECUTION_PROVIDERS.includes(p))
  ) {
    throw new ValidationError(
      'executionProviders',
      `must be a non-empty list of ${EXECUTION_PROVIDERS.join(', ')} (got ${JSON.stringify(executionProviders)})`,
    );
  }
  const thread = options.inferenceThread ?? 'worker';
  if (thread !== 'worker' && thread !== 'main')
    throw new ValidationError('inferenceThread', `must be "worker" or "main" (got ${JSON.stringify(thread)})`);
  if (options.spinWait !== undefined && typeof options.spinWait !== 'boolean')
    throw new ValidationError('spinWait', 'must be a boolean');
  const inferenceNice = intOption('inferenceNice', options.inferenceNice, 0, 19) ?? 0;
  const queryCacheSize = intOption('queryCacheSize', options.queryCacheSize, 0, 100_000_000) ?? 0;
  const queryBatch = {
    maxSize: intOption('queryBatch.maxSize', options.queryBatch?.maxSize, 1, 4096) ?? 1,
    waitMs: intOption('queryBatch.waitMs', options.queryBatch?.waitMs, 0, 10_000) ?? 0,
  };
  const tokenizer = await TextTokenizer.fromFile(manifest.tokenizerPath);
  let session: OrtHost;
  try {
    session = await startOrtHost(
      manifest.graphPath,
      {
        intraOpNumThreads: intraOpThreads,
        executionProviders,
        spinWait: options.spinWait ?? false,
        nice: inferenceNice,
      },
      thread,
    );
  } catch (error) {
    if (executionProviders.some((p) => p !== 'cpu')) {
      throw new ModelError(
        `ONNX Runtime cannot start with execution providers ${executionProviders.join(', ')}: ${firstLine(error)} (is the GPU build installed? see the README, "GPU workers")`,
        {
          field: 'executionProviders',
          cause: error,
        },
      );
    }
    throw new ModelError(`ONNX Runtime cannot load the graph: ${firstLine(error)}`, {
      field: manifest.graphPath,
      cause: error,
    });
  }
  let plan: GraphPlan;
  try {
    plan = planGraph(session, manifest);
  } catch (error) {
    await session.close();
    throw error;
  }
  const shared =
    typeof options.sharedQueryVectors === 'function'
      ? options.sharedQueryVectors(manifest.dimension)
      : options.sharedQueryVectors;
  return new Encoder({ ...manifest, output: plan.output }, session, tokenizer, plan, batchSize, {
    cacheSize: queryCacheSize,
    ...(shared ? { shared } : {}),
    batch: queryBatch,
  });
}
