import { createServer, type Server } from 'node:http';
import { availableParallelism } from 'node:os';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import {
  ConfigError,
  DotrankError,
  ValidationError,
  defaultIntraOpThreads,
  describeError,
  type DenseEncoder,
  type DotrankConfig,
} from '@dotrank/core';
import { encoderOptionsFromConfig, loadEncoder } from '@dotrank/encoder';
import {
  EVENTS_MAX_LEN,
  RerankTimeoutError,
  parseOrThrow,
  queueNames,
  isRerankEnvelope,
  rerankKeyed,
  rerankEnvelopeSchema,
  rerankJobSchema,
  warmJobSchema,
  warmPassages,
  type KeyedRerankRequest,
  type RerankColumnsResult,
  type RerankEnvelope,
  type RerankJobData,
  type RerankJobResult,
  type WarmJobData,
  type WarmJobResult,
} from '@dotrank/rerank-core';
import { RedisVectorStore, type VectorStore } from '@dotrank/vector-cache';
import type { Registry } from 'prom-client';
import { createMetrics, type WorkerMetrics } from './metrics.js';

export interface StartWorkerOptions {
  /** Model directory (manifest + ONNX graph + tokenizer). */
  modelDir?: string;
  /** Rerank jobs processed at once by this process (DOTRANK_WORKER_CONCURRENCY). */
  concurrency?: number;
  /** Passages per encoder call (DOTRANK_BATCH_SIZE). */
  batchSize?: number;
  /** ORT intra-op threads (DOTRANK_ORT_THREADS; 0/absent = cores / workersPerMachine). */
  threads?: number;
  /** Worker processes sharing this machine's cores (default 1). */
  workersPerMachine?: number;
  logger?: Logger;
  /** Serve GET /metrics on this port (0 = any free port). */
  metricsPort?: number;
  metricsHost?: string;
  /** BullMQ lock duration / stalled check interval in ms (defaults 30000 / 30000) and stalls tolerated (default 2). */
  lockDuration?: number;
  stalledInterval?: number;
  maxStalledCount?: number;
  /** Injected encoder / store (tests, embedding); the worker then does not close them. */
  encoder?: DenseEncoder;
  store?: VectorStore;
  /** Process warm jobs too (default true). */
  warm?: boolean;
}

export interface RunningWorker {
  /** Stops taking jobs, waits for in-flight ones, releases model, cache and connections. */
  close(): Promise<void>;
  registry: Registry;
  metrics: WorkerMetrics;
  encoder: DenseEncoder;
  /** http://host:port/metrics when a metrics port was given. */
  metricsUrl?: string;
  threads: number;
}

const ms = (x: number) => x / 1000;

/** A validated job with its candidates in hand, as the pipeline takes it. */
function keyedRequest(data: RerankJobData): KeyedRerankRequest {
  const { candidates, enqueuedAt: _enqueuedAt, deadlineAt: _deadlineAt, ...rest } = data;
  return {
    ...rest,
    keys: candidates.map((c) => ({ id: c.id, text: c.text })),
    scores: candidates.map((c) => c.score),
    texts: () => candidates.map((c) => c.text),
  };
}

/** Starts the rerank (and warm) BullMQ workers; the model loads once and serves every job. */
export async function startWorker(config: DotrankConfig, options: StartWorkerOptions = {}): Promise<RunningWorker> {
  if (!config.REDIS_URL) throw new ConfigError('REDIS_URL', 'is required for the worker (e.g. redis://127.0.0.1:6379)');
  const logger = options.logger ?? pino({ level: config.DOTRANK_LOG_LEVEL, base: { service: 'dotrank-worker' } });
  const concurrency = options.concurrency ?? config.DOTRANK_WORKER_CONCURRENCY;
  const batchSize = options.batchSize ?? config.DOTRANK_BATCH_SIZE;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new ValidationError('concurrency', 'must be an integer >= 1');
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new ValidationError('batchSize', 'must be an integer >= 1');
  const threads =
    options.threads || config.DOTRANK_ORT_THREADS || defaultIntraOpThreads(availableParallelism(), options.workersPerMachine ?? 1);

  let encoder = options.encoder;
  if (!encoder) {
    const modelDir = options.modelDir ?? config.DOTRANK_MODEL;
    if (!modelDir) throw new ConfigError('model', 'pass --model <dir> or set DOTRANK_MODEL');
    encoder = await loadEncoder(modelDir, encoderOptionsFromConfig(config, { batchSize, intraOpThreads: threads }));
  }
  const enc = encoder;
  const store =
    options.store ??
    new RedisVectorStore({
      url: config.REDIS_URL,
      keyPrefix: config.DOTRANK_KEY_PREFIX,
      modelId: enc.modelId,
      revision: enc.revision,
      dtype: config.DOTRANK_CACHE_DTYPE,
      ttlSeconds: config.DOTRANK_CACHE_TTL_SECONDS,
      dimension: enc.dimension,
      fastReads: config.DOTRANK_CACHE_FAST_READS,
    });
  const metrics = createMetrics();
  const names = queueNames(config.DOTRANK_QUEUE_PREFIX);
  const connection = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
  connection.on('error', (error) => logger.warn({ err: describeError(error) }, 'redis connection error'));
  const rerankSchema = rerankJobSchema(config.DOTRANK_MAX_CANDIDATES);
  const envelopeSchema = rerankEnvelopeSchema(config.DOTRANK_MAX_CANDIDATES);
  // reads the candidates of envelope jobs (BullMQ's own connections block on the queue)
  const payloads = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 3 });
  payloads.on('error', (error) => logger.warn({ err: describeError(error) }, 'redis payload connection error'));
  const warmSchema = warmJobSchema();
  const common = {
    connection,
    prefix: names.prefix,
    lockDuration: options.lockDuration ?? 30_000,
    stalledInterval: options.stalledInterval ?? 30_000,
    maxStalledCount: options.maxStalledCount ?? 2,
    streams: { events: { maxLen: EVENTS_MAX_LEN } },
  };

  /** The candidates an envelope job names, parsed (not yet validated); an unrecoverable error when they are gone. */
  const readPayload = async (key: string): Promise<unknown> => {
    let raw: Buffer | null;
    try {
      raw = await payloads.getBuffer(key);
    } catch (error) {
      throw new Error(`could not read the candidates payload ${key}: ${describeError(error)}`); // retried
    }
    if (!raw) throw new UnrecoverableError(`invalid job: payloadKey: candidates payload ${key} is gone (expired, or its producer stopped waiting)`);
    try {
      return JSON.parse(raw.toString('utf8'));
    } catch {
      throw new UnrecoverableError(`invalid job: payloadKey: candidates payload ${key} is not JSON`);
    }
  };

  const rerankProcessor = async (
    job: Job<RerankJobData | RerankEnvelope, RerankJobResult | RerankColumnsResult>,
  ): Promise<RerankJobResult | RerankColumnsResult> => {
    const processStart = performance.now();
    const log = logger.child({ jobId: job.id, requestId: (job.data as { requestId?: string })?.requestId, type: 'rerank' });
    const invalid = (error: unknown): never => {
      metrics.jobs.inc({ type: 'rerank', status: 'invalid' });
      log.warn({ reason: describeError(error) }, 'invalid rerank job');
      throw new UnrecoverableError(`invalid job: ${describeError(error)}`);
    };
    /** The data, parsed by `schema`, or the job fails as invalid naming the field. */
    const valid = <S extends Parameters<typeof parseOrThrow>[0]>(schema: S, data: unknown): ReturnType<typeof parseOrThrow<S>> => {
      try {
        return parseOrThrow(schema, data);
      } catch (error) {
        return invalid(error);
      }
    };
    const expired = (): never => {
      metrics.jobs.inc({ type: 'rerank', status: 'expired' });
      throw new UnrecoverableError(`deadline passed ${Date.now() - (job.data.deadlineAt ?? 0)} ms before the job started`);
    };
    let request: KeyedRerankRequest;
    let queryEncoding: { vector: Promise<Float32Array>; startedAt: number } | undefined;
    let deadlineAt: number | undefined;
    let enqueuedAt: number | undefined;
    const isEnvelope = isRerankEnvelope(job.data);
    if (isEnvelope) {
      // candidates beside the job: start the query's encoding, then read them while it runs
      const envelope: RerankEnvelope = valid(envelopeSchema, job.data);
      ({ deadlineAt, enqueuedAt } = envelope);
      if (deadlineAt !== undefined && Date.now() > deadlineAt) return expired();
      if (envelope.fusion !== 'bm25') {
        const vector = enc.encodeQueries([envelope.query]).then(([v]) => v!);
        vector.catch(() => undefined); // awaited by the pipeline; never an unhandled rejection if we fail first
        queryEncoding = { vector, startedAt: performance.now() };
      }
      const { payloadKey, lookup, ...rest } = envelope;
      /** The payload's candidates, validated as a job would be. */
      const readCandidates = async (): Promise<RerankJobData['candidates']> => {
        const candidates = await readPayload(payloadKey);
        return valid(rerankSchema, { ...rest, candidates }).candidates;
      };
      if (lookup) {
        // the producer's text hashes name the cached vectors: the payload is read only to encode misses
        request = {
          ...rest,
          keys: lookup.ids.map((id, i) => ({ id, textHash: lookup.textHashes[i]! })),
          scores: lookup.scores,
          texts: async () => {
            const candidates = await readCandidates();
            if (candidates.length !== lookup.ids.length) {
              return invalid(new ValidationError('lookup.ids', `names ${lookup.ids.length} candidates, the payload holds ${candidates.length}`));
            }
            return candidates.map((c, i) => {
              if (c.id !== lookup.ids[i]) return invalid(new ValidationError(`lookup.ids.${i}`, `is ${JSON.stringify(lookup.ids[i])}, the payload's candidate is ${JSON.stringify(c.id)}`));
              return c.text;
            });
          },
        };
      } else {
        request = keyedRequest({ ...rest, candidates: await readCandidates() });
      }
    } else {
      const data: RerankJobData = valid(rerankSchema, job.data);
      ({ deadlineAt, enqueuedAt } = data);
      request = keyedRequest(data);
    }
    const started = Date.now();
    if (deadlineAt !== undefined && started > deadlineAt) return expired();
    try {
      const result = await rerankKeyed(
        request,
        { encoder: enc, store, batchSize },
        { deadlineAt, queryEncoding, observer: { onMissBatch: (n) => metrics.missBatchSize.observe(n) } },
      );
      // the job's own time, reading its candidates included
      result.timings.totalMs = performance.now() - processStart;
      const queueWaitMs = Math.max(0, (job.processedOn ?? started) - (enqueuedAt ?? job.timestamp));
      const t = result.timings;
      metrics.stage.observe({ stage: 'encode_query' }, ms(t.encodeQueryMs));
      metrics.stage.observe({ stage: 'cache_read' }, ms(t.cacheReadMs));
      metrics.stage.observe({ stage: 'encode_misses' }, ms(t.encodeMissesMs));
      metrics.stage.observe({ stage: 'score' }, ms(t.scoreMs));
      metrics.stage.observe({ stage: 'total' }, ms(t.totalMs));
      metrics.stage.observe({ stage: 'queue_wait' }, ms(queueWaitMs));
      metrics.cacheHits.inc(result.cache.hits);
      metrics.cacheMisses.inc(result.cache.misses);
      metrics.candidates.observe(request.keys.length);
      metrics.jobs.inc({ type: 'rerank', status: 'completed' });
      log.debug({ candidates: request.keys.length, cache: result.cache, timings: t, queueWaitMs }, 'rerank done');
      const { fused } = result;
      if (isEnvelope) {
        // an envelope's producer reads columns: candidate positions and scores, nothing it already has
        const withTasb = fused.length > 0 && fused[0]!.tasbScore !== undefined;
        return {
          ranked: {
            index: fused.map((f) => f.index),
            score: fused.map((f) => f.score),
            ...(withTasb ? { tasbScore: fused.map((f) => f.tasbScore!) } : {}),
          },
          fusion: result.fusion,
          timings: { ...t, queueWaitMs },
          cache: result.cache,
        };
      }
      return {
        // ids and scores only (the producer has the texts); explicit fields, no per-item spread
        results: fused.map((r) =>
          r.tasbScore !== undefined
            ? { id: r.id, rank: r.rank, score: r.score, bm25Score: r.bm25Score, tasbScore: r.tasbScore }
            : { id: r.id, rank: r.rank, score: r.score, bm25Score: r.bm25Score },
        ),
        fusion: result.fusion,
        timings: { ...t, queueWaitMs },
        cache: result.cache,
      };
    } catch (error) {
      if (error instanceof UnrecoverableError) throw error; // already counted and explained
      if (error instanceof RerankTimeoutError) {
        metrics.jobs.inc({ type: 'rerank', status: 'expired' });
        throw new UnrecoverableError('deadline passed while reranking');
      }
      if (error instanceof ValidationError) return invalid(error);
      metrics.jobs.inc({ type: 'rerank', status: 'failed' });
      log.error({ err: describeError(error) }, 'rerank failed');
      throw error instanceof DotrankError ? new Error(error.message) : error;
    }
  };

  const warmProcessor = async (job: Job<WarmJobData, WarmJobResult>): Promise<WarmJobResult> => {
    const log = logger.child({ jobId: job.id, type: 'warm' });
    let data: WarmJobData;
    try {
      data = parseOrThrow(warmSchema, job.data);
    } catch (error) {
      metrics.jobs.inc({ type: 'warm', status: 'invalid' });
      throw new UnrecoverableError(`invalid job: ${describeError(error)}`);
    }
    try {
      const total = data.passages.length;
      const out = await warmPassages(data.passages, {
        encoder: enc,
        store,
        batchSize,
        total,
        onProgress: (p) => job.updateProgress({ done: p.done, total, encoded: p.encoded, skipped: p.skipped }),
      });
      metrics.warmPassages.inc({ outcome: 'encoded' }, out.encoded);
      metrics.warmPassages.inc({ outcome: 'skipped' }, out.skipped);
      metrics.warmPassages.inc({ outcome: 'blank' }, out.blank);
      metrics.jobs.inc({ type: 'warm', status: 'completed' });
      log.info({ chunk: data.chunk, chunks: data.chunks, ...out }, 'warm chunk done');
      return out;
    } catch (error) {
      metrics.jobs.inc({ type: 'warm', status: 'failed' });
      log.error({ err: describeError(error) }, 'warm chunk failed');
      throw error instanceof DotrankError ? new Error(error.message) : error;
    }
  };

  const rerankWorker = new Worker<RerankJobData | RerankEnvelope, RerankJobResult | RerankColumnsResult>(names.rerank, rerankProcessor, { ...common, concurrency });
  const warmWorker =
    options.warm === false ? undefined : new Worker<WarmJobData, WarmJobResult>(names.warm, warmProcessor, { ...common, concurrency: 1 });
  for (const w of [rerankWorker, warmWorker]) {
    w?.on('error', (error) => logger.error({ err: describeError(error) }, 'worker error'));
    w?.on('stalled', (jobId) => logger.warn({ jobId }, 'job stalled; it will be retried'));
  }
  await Promise.all([rerankWorker.waitUntilReady(), warmWorker?.waitUntilReady()]);

  let server: Server | undefined;
  let metricsUrl: string | undefined;
  if (options.metricsPort !== undefined) {
    const host = options.metricsHost ?? config.DOTRANK_HOST;
    server = createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end('not found\n');
        return;
      }
      metrics.registry
        .metrics()
        .then((body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body))
        .catch((error) => res.writeHead(500).end(describeError(error)));
    });
    await new Promise<void>((resolve, reject) => {
      server!.once('error', (error) => reject(new ConfigError('metricsPort', `cannot listen on ${host}:${options.metricsPort}: ${describeError(error)}`)));
      server!.listen(options.metricsPort, host, () => resolve());
    });
    const addr = server.address();
    if (addr && typeof addr === 'object') metricsUrl = `http://${host}:${addr.port}/metrics`;
  }

  logger.info(
    { queue: names.rerank, warmQueue: warmWorker ? names.warm : undefined, prefix: names.prefix, model: enc.modelId, revision: enc.revision, concurrency, batchSize, threads, metricsUrl },
    'worker ready',
  );

  let closing: Promise<void> | undefined;
  return {
    registry: metrics.registry,
    metrics,
    encoder: enc,
    metricsUrl,
    threads,
    close() {
      closing ??= (async () => {
        logger.info('worker stopping: finishing in-flight jobs');
        await Promise.allSettled([rerankWorker.close(), warmWorker?.close()]);
        if (server) await new Promise<void>((resolve) => server!.close(() => resolve()));
        if (!options.store) await store.close();
        if (!options.encoder) await enc.close();
        await connection.quit().catch(() => undefined);
        await payloads.quit().catch(() => undefined);
        logger.info('worker stopped');
      })();
      return closing;
    },
  };
}
