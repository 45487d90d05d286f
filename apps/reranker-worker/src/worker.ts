import { createServer, type Server } from 'node:http';
import { availableParallelism } from 'node:os';
import { pino, type Logger } from 'pino';
import {
  ConfigError,
  defaultIntraOpThreads,
  workerConcurrency,
  describeError,
  withDeadline,
  type DenseEncoder,
  type DotrankConfig,
} from '@dotrank/core';
import { Encoder, encoderOptionsFromConfig, loadEncoder, type QueryCacheRedis } from '@dotrank/encoder';
import {
  candidateWindowsFor,
  passageWindowSettingsFromConfig,
  startRerankWorker,
  type CandidateWindows,
  type RerankWorkerOptions,
} from '@dotrank/rerank-core';
import {
  RedisVectorStore,
  createRedisConnection,
  vectorStoreOptionsFromConfig,
  type VectorStore,
} from '@dotrank/vector-cache';
import type { Registry } from 'prom-client';
import {
  cacheWriteErrorsCounter,
  createMetrics,
  metricsObserver,
  queryCacheCounters,
  type WorkerMetrics,
} from './metrics.js';

/** The worker process's flags (each overrides its configuration variable). */
export interface StartWorkerOptions {
  /** Model directory (manifest + ONNX graph + tokenizer); default DOTRANK_MODEL. */
  modelDir?: string;
  /** Rerank jobs processed at once by this process (DOTRANK_WORKER_CONCURRENCY); 0 = one per core of its share. */
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

/** The processor's options the worker does not build itself (model, cache, logger, metrics). */
type QueueOptions = Omit<RerankWorkerOptions, 'encoder' | 'store' | 'logger' | 'observer'>;

/** Configuration and flags as rerank-core's processor options: the one place the worker maps them. */
export function rerankWorkerOptions(config: DotrankConfig, options: StartWorkerOptions = {}): QueueOptions {
  if (!config.REDIS_URL) throw new ConfigError('REDIS_URL', 'is required for the worker (e.g. redis://127.0.0.1:6379)');
  return {
    connection: config.REDIS_URL,
    queuePrefix: config.DOTRANK_QUEUE_PREFIX,
    concurrency: workerConcurrency(
      options.concurrency ?? config.DOTRANK_WORKER_CONCURRENCY,
      availableParallelism(),
      options.workersPerMachine ?? 1,
    ),
    batchSize: options.batchSize ?? config.DOTRANK_BATCH_SIZE,
    maxCandidates: config.DOTRANK_MAX_CANDIDATES,
    ...(options.lockDuration !== undefined ? { lockDuration: options.lockDuration } : {}),
    ...(options.stalledInterval !== undefined ? { stalledInterval: options.stalledInterval } : {}),
    ...(options.maxStalledCount !== undefined ? { maxStalledCount: options.maxStalledCount } : {}),
    warm: options.warm !== false,
  };
}

/** The model, its query vectors shared through Redis with the API and the other workers (the caller closes `redis`). */
async function openEncoder(
  config: DotrankConfig,
  options: StartWorkerOptions,
  queueOptions: QueueOptions,
  threads: number,
  redis: QueryCacheRedis,
): Promise<DenseEncoder> {
  if (options.encoder) return options.encoder;
  const modelDir = options.modelDir ?? config.DOTRANK_MODEL;
  if (!modelDir) throw new ConfigError('model', 'pass --model <dir> or set DOTRANK_MODEL');
  return loadEncoder(
    modelDir,
    encoderOptionsFromConfig(config, { batchSize: queueOptions.batchSize, intraOpThreads: threads }, redis),
  );
}

/**
 * With DOTRANK_DOC_SCORE other than `first`, warm jobs cache each passage's windows (split with the model's
 * tokenizer and the same window settings as the API's), which is what windowed rerank jobs read.
 */
async function warmWindows(config: DotrankConfig, options: StartWorkerOptions): Promise<CandidateWindows | undefined> {
  const settings = passageWindowSettingsFromConfig(config);
  if (settings.docScore === 'first') return undefined;
  const modelDir = options.modelDir ?? config.DOTRANK_MODEL;
  if (!modelDir)
    throw new ConfigError('DOTRANK_DOC_SCORE', `${settings.docScore} needs the model directory: pass --model <dir>`);
  return candidateWindowsFor(modelDir, settings);
}

/**
 * The Redis vector cache. A failed cache write (Redis full under `noeviction`) does not fail the job: the vectors are
 * not cached, `dotrank_worker_cache_write_errors_total` counts it, and one warning a minute says so.
 */
function openStore(config: DotrankConfig, encoder: DenseEncoder, logger: Logger): VectorStore {
  return new RedisVectorStore({
    ...vectorStoreOptionsFromConfig(config, encoder),
    writeErrors: {
      report: (failed) =>
        logger.warn(
          { writes: failed.writes, vectors: failed.vectors, err: failed.error },
          'vector cache writes failed: the vectors are not cached (this warning comes at most once a minute)',
        ),
    },
  });
}

/** Serves GET /metrics; resolves with its URL. */
async function serveMetrics(registry: Registry, host: string, port: number): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') return void res.writeHead(404).end('not found\n');
    registry
      .metrics()
      .then((body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body))
      .catch((error) => res.writeHead(500).end(describeError(error)));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) =>
      reject(new ConfigError('metricsPort', `cannot listen on ${host}:${port}: ${describeError(error)}`)),
    );
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  return { server, url: `http://${host}:${addr && typeof addr === 'object' ? addr.port : port}/metrics` };
}

/** What one close step may take (README: 3 s each): a Redis that stopped answering must not hold the shutdown. */
const CLOSE_STEP_MS = 3000;

/** Runs one close step within CLOSE_STEP_MS, logging (not throwing) a step that failed or ran out of time. */
async function closeStep(name: string, step: () => Promise<unknown>, logger: Logger): Promise<void> {
  try {
    await withDeadline(step, { deadlineMs: CLOSE_STEP_MS });
  } catch (error) {
    logger.warn({ step: name, err: describeError(error) }, 'close step did not finish; going on');
  }
}

/** Loads the model once, opens the cache and starts rerank-core's processor on the queues, with metrics and logs. */
export async function startWorker(config: DotrankConfig, options: StartWorkerOptions = {}): Promise<RunningWorker> {
  const queueOptions = rerankWorkerOptions(config, options);
  const logger = options.logger ?? pino({ level: config.DOTRANK_LOG_LEVEL, base: { service: 'dotrank-worker' } });
  const threads =
    options.threads ||
    config.DOTRANK_ORT_THREADS ||
    defaultIntraOpThreads(availableParallelism(), options.workersPerMachine ?? 1);
  const queryRedis = createRedisConnection(config.REDIS_URL!);
  let encoder: DenseEncoder;
  try {
    encoder = await openEncoder(config, options, queueOptions, threads, queryRedis);
  } catch (error) {
    queryRedis.disconnect();
    throw error;
  }
  const store = options.store ?? openStore(config, encoder, logger);
  const metrics = createMetrics();
  cacheWriteErrorsCounter(metrics.registry, () => store.stats().writeErrors ?? 0);
  if (encoder instanceof Encoder) {
    const loaded = encoder;
    queryCacheCounters(metrics.registry, () => loaded.queryCacheStats());
  }
  const windows = await warmWindows(config, options);
  const worker = await startRerankWorker({
    ...queueOptions,
    ...(windows ? { windows } : {}),
    encoder,
    store,
    logger,
    observer: metricsObserver(metrics),
  });
  const served =
    options.metricsPort === undefined
      ? undefined
      : await serveMetrics(metrics.registry, options.metricsHost ?? config.DOTRANK_HOST, options.metricsPort);
  const { concurrency, batchSize } = queueOptions;
  logger.info(
    {
      ...worker.names,
      model: encoder.modelId,
      revision: encoder.revision,
      concurrency,
      batchSize,
      threads,
      metricsUrl: served?.url,
    },
    'worker ready',
  );
  let closing: Promise<void> | undefined;
  const close = async () => {
    logger.info('worker stopping: finishing in-flight jobs');
    // the queue's own steps are bounded inside close(); this bound covers their sum
    await closeStep('queue', () => worker.close(), logger);
    if (served)
      await closeStep(
        'metrics server',
        () => new Promise<void>((resolve) => served.server.close(() => resolve())),
        logger,
      );
    if (!options.store) await closeStep('vector cache', () => store.close(), logger);
    if (!options.encoder) await closeStep('model', () => encoder.close(), logger);
    queryRedis.disconnect();
    logger.info('worker stopped');
  };
  return {
    registry: metrics.registry,
    metrics,
    encoder,
    ...(served ? { metricsUrl: served.url } : {}),
    threads,
    close: () => (closing ??= close()),
  };
}
