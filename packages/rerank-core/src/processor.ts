import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { DotrankError, ValidationError, describeError, withDeadline, type DenseEncoder } from '@dotrank/core';
import { RedisVectorStore, type VectorStore } from '@dotrank/vector-cache';
import {
  bounded,
  closeConnections,
  isCluster,
  queueConnections,
  type QueueConnection,
  type QueueConnections,
} from './connections.js';
import { RerankTimeoutError } from './errors.js';
import { DEFAULT_BATCH_SIZE, rerankLookup, warmPassages, type CandidateWindows } from './pipeline.js';
import { DEFAULT_MAX_CANDIDATES, parseOrThrow } from './schemas.js';
import type { RerankTimings } from './types.js';
import {
  EVENTS_MAX_LEN,
  HEARTBEAT_INTERVAL_MS,
  HEARTBEAT_TTL_MS,
  encodeFailure,
  heartbeatKey,
  payloadKey,
  TextsOmittedError,
  payloadSchema,
  queueNames,
  replyChannel,
  rerankJobSchema,
  warmJobSchema,
  type QueueNames,
  type RerankColumns,
  type RerankJob,
  type WarmJob,
  type WarmJobResult,
} from './wire.js';

type LogFn = (fields: object, message?: string) => void;
/** The logger the processor writes to: a pino logger fits. */
export interface ProcessorLogger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  child(bindings: Record<string, unknown>): ProcessorLogger;
}

export type JobType = 'rerank' | 'warm';
/**
 * completed; failed (retried); invalid (failed at once, naming the field); expired (its deadline passed);
 * texts_needed (sent without texts, it met a cache miss: failed at once, its producer resends it with them; wire.ts).
 */
export type JobStatus = 'completed' | 'failed' | 'invalid' | 'expired' | 'texts_needed';

/** What the processor reports as it works (the worker app turns it into Prometheus metrics). */
export interface RerankProcessorObserver {
  onJob?(type: JobType, status: JobStatus): void;
  /** A completed rerank: its stage timings, the time it waited in the queue, its cache counts and candidates. */
  onRerank?(timings: RerankTimings & { queueWaitMs: number }, cache: RerankColumns['cache'], candidates: number): void;
  /** Passages per encoder call for cache misses. */
  onMissBatch?(size: number): void;
  onWarm?(result: WarmJobResult): void;
}

export interface RerankWorkerOptions {
  /** REDIS_URL, or an ioredis client to share (not closed by close()). */
  connection: QueueConnection;
  /** DOTRANK_QUEUE_PREFIX. */
  queuePrefix: string;
  /** The model; the caller owns it (close() leaves it open). */
  encoder: DenseEncoder;
  /** The vector cache; the caller owns it. */
  store: VectorStore;
  /** Rerank jobs processed at once; default 1 (the worker app passes DOTRANK_WORKER_CONCURRENCY, resolved). */
  concurrency?: number;
  /** Passages per encoder call (DOTRANK_BATCH_SIZE); default 32. */
  batchSize?: number;
  /**
   * Long documents split into passage windows for warm jobs (DOTRANK_DOC_SCORE other than `first`), so that the
   * windows rerank jobs will ask for are cached. Rerank jobs need none: they bring their windows' hashes and texts.
   */
  windows?: CandidateWindows;
  /** Most candidates per job (DOTRANK_MAX_CANDIDATES); default 1000. */
  maxCandidates?: number;
  /** BullMQ job lock in ms, renewed while a job runs; default 30000. */
  lockDuration?: number;
  /** How often BullMQ looks for jobs whose worker died (their lock expired), in ms; default 30000. */
  stalledInterval?: number;
  /** Stalls a job survives before it fails; default 2. */
  maxStalledCount?: number;
  /** Take warm jobs too; default true. */
  warm?: boolean;
  /** Default: silent. */
  logger?: ProcessorLogger;
  observer?: RerankProcessorObserver;
}

export interface RerankWorker {
  readonly names: QueueNames;
  /** This worker's member in the heartbeat set (wire.ts). */
  readonly workerId: string;
  /** Stops taking jobs, waits for the in-flight ones and closes the connections it opened. */
  close(): Promise<void>;
}

const silent: ProcessorLogger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };

/**
 * The queue's processor (wire.ts): takes rerank jobs (and warm jobs), scores them with rerankLookup and answers with
 * columns. Invalid jobs fail at once naming the field, jobs past their deadline at once as expired; other failures
 * are retried. Every failure crosses the queue as a WireFailure carrying the error's code.
 */
export class RerankProcessor {
  readonly names: QueueNames;
  private readonly jobSchema: ReturnType<typeof rerankJobSchema>;
  private readonly warmSchema = warmJobSchema();
  private readonly logger: ProcessorLogger;
  private replyFailing = false;

  constructor(
    private readonly options: RerankWorkerOptions,
    private readonly connections: Pick<QueueConnections, 'command'>,
  ) {
    this.names = queueNames(options.queuePrefix, { cluster: isCluster(connections.command) });
    this.jobSchema = rerankJobSchema(options.maxCandidates ?? DEFAULT_MAX_CANDIDATES);
    this.logger = options.logger ?? silent;
  }

  /** One rerank job: its columns, or a failure BullMQ records (Unrecoverable for invalid and expired jobs). */
  async rerank(job: Job<RerankJob, RerankColumns>): Promise<RerankColumns> {
    const processStart = performance.now();
    const log = this.logger.child({
      jobId: job.id,
      requestId: (job.data as { requestId?: unknown } | undefined)?.requestId,
      type: 'rerank',
    });
    try {
      const data = parseOrThrow(this.jobSchema, job.data);
      const started = Date.now();
      const remaining = data.deadlineAt !== undefined ? data.deadlineAt - started : undefined;
      if (remaining !== undefined && remaining <= 0) {
        throw new RerankTimeoutError(
          data.deadlineAt! - data.enqueuedAt,
          `deadline passed ${-remaining} ms before the job started`,
        );
      }
      const count = data.lookup.ids.length;
      // the texts are read from the payload only on a cache miss
      // one text per hash: the candidates' texts, or their windows' when they were split
      const hashCount = data.lookup.textHashes.reduce((n, hashes) => n + hashes.length, 0);
      const texts = () =>
        data.textsOmitted
          ? Promise.reject(new TextsOmittedError())
          : this.readTexts(payloadKey(this.names, job.id!), hashCount);
      const columns = await withDeadline(
        (signal) =>
          rerankLookup(data, texts, this.deps(), {
            signal,
            observer: { onMissBatch: (n) => this.options.observer?.onMissBatch?.(n) },
          }),
        {
          ...(remaining !== undefined ? { deadlineMs: remaining } : {}),
          onTimeout: (ms) => new RerankTimeoutError(ms, 'deadline passed while reranking'),
        },
      );
      // the job's own time, reading its texts included
      const timings = {
        ...columns.timings,
        totalMs: performance.now() - processStart,
        queueWaitMs: Math.max(0, (job.processedOn ?? started) - data.enqueuedAt),
      };
      this.options.observer?.onRerank?.(timings, columns.cache, count);
      this.options.observer?.onJob?.('rerank', 'completed');
      log.debug({ candidates: count, cache: columns.cache, timings }, 'rerank done');
      const result = { ...columns, timings };
      if (data.replyTo) this.reply(data.replyTo, job.id!, result);
      return result;
    } catch (error) {
      throw this.failure(error, 'rerank', log);
    }
  }

  /**
   * Publishes the result on its producer's reply channel (wire.ts: direct reply) before BullMQ completes the job.
   * Not awaited: the job completes meanwhile. A failed publish costs the producer only time (the completed event
   * carries the result too); it is logged once until one succeeds again.
   */
  private reply(producerId: string, jobId: string, columns: RerankColumns): void {
    this.connections.command
      .publish(replyChannel(this.names, producerId), JSON.stringify({ job: jobId, columns }))
      .then(
        () => (this.replyFailing = false),
        (error: unknown) => {
          if (!this.replyFailing)
            this.logger.warn(
              { err: describeError(error) },
              'direct reply not published: producers get results through the events stream, later',
            );
          this.replyFailing = true;
        },
      );
  }

  /** One warm job: encodes the passages that are not cached yet, reporting progress. */
  async warm(job: Job<WarmJob, WarmJobResult>): Promise<WarmJobResult> {
    const log = this.logger.child({ jobId: job.id, type: 'warm' });
    try {
      const data = parseOrThrow(this.warmSchema, job.data);
      const total = data.passages.length;
      const onProgress = (p: { done: number; encoded: number; skipped: number }) =>
        job.updateProgress({ done: p.done, total, encoded: p.encoded, skipped: p.skipped });
      const out = await warmPassages(data.passages, { ...this.deps(), total, onProgress });
      this.options.observer?.onWarm?.(out);
      this.options.observer?.onJob?.('warm', 'completed');
      log.info({ chunk: data.chunk, chunks: data.chunks, ...out }, 'warm chunk done');
      return out;
    } catch (error) {
      throw this.failure(error, 'warm', log);
    }
  }

  private deps() {
    return {
      encoder: this.options.encoder,
      store: this.options.store,
      batchSize: this.options.batchSize ?? DEFAULT_BATCH_SIZE,
      ...(this.options.windows ? { windows: this.options.windows } : {}),
    };
  }

  /** The payload's texts; a payload that is gone or malformed makes the job invalid, an unreachable Redis retries it. */
  private async readTexts(key: string, count: number): Promise<string[]> {
    let raw: Buffer | null;
    try {
      raw = await this.connections.command.getBuffer(key);
    } catch (error) {
      throw new DotrankError('unavailable', `could not read the payload ${key}: ${describeError(error)}`, {
        field: 'payload',
        cause: error,
      });
    }
    if (!raw) throw new ValidationError('payload', `${key} is gone (expired, or its producer stopped waiting)`);
    let texts: unknown;
    try {
      texts = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new ValidationError('payload', `${key} is not JSON`);
    }
    const parsed = payloadSchema.safeParse(texts);
    if (!parsed.success) throw new ValidationError('payload', `${key} is not an array of texts`);
    if (parsed.data.length !== count)
      throw new ValidationError('payload', `holds ${parsed.data.length} texts for ${count} text hashes`);
    return parsed.data;
  }

  /** The error BullMQ records for a failed job: its WireFailure, unrecoverable when retrying cannot help. */
  private failure(error: unknown, type: JobType, log: ProcessorLogger): Error {
    const reason = encodeFailure(error);
    if (error instanceof TextsOmittedError) {
      // an evicted vector, nothing wrong with the job: its producer sends it again with the texts
      this.options.observer?.onJob?.(type, 'texts_needed');
      log.debug({ reason: error.problem }, `${type} job needs its texts`);
      return new UnrecoverableError(reason);
    }
    if (error instanceof ValidationError) {
      this.options.observer?.onJob?.(type, 'invalid');
      log.warn({ reason: describeError(error) }, `invalid ${type} job`);
      return new UnrecoverableError(reason);
    }
    if (error instanceof DotrankError && error.code === 'timeout') {
      this.options.observer?.onJob?.(type, 'expired');
      log.warn({ reason: describeError(error) }, `${type} job expired`);
      return new UnrecoverableError(reason);
    }
    this.options.observer?.onJob?.(type, 'failed');
    log.error({ err: describeError(error) }, `${type} failed`);
    return new Error(reason);
  }
}

/**
 * The worker's heartbeat (wire.ts): ZADD itself every HEARTBEAT_INTERVAL_MS, pruning members past HEARTBEAT_TTL_MS;
 * a beat still waiting for Redis is not doubled. stop() removes the member (bounded: Redis may be gone).
 */
function startHeartbeat(
  redis: QueueConnections['command'],
  names: QueueNames,
  workerId: string,
  logger: ProcessorLogger,
) {
  const key = heartbeatKey(names);
  let pending: Promise<unknown> | undefined;
  let failing = false;
  const beat = (): Promise<unknown> => {
    const now = Date.now();
    pending ??= redis
      .multi()
      .zadd(key, now, workerId)
      .zremrangebyscore(key, '-inf', now - HEARTBEAT_TTL_MS)
      .pexpire(key, HEARTBEAT_TTL_MS)
      .exec()
      .then(
        () => (failing = false),
        (error: unknown) => {
          // once per outage, not once per beat
          if (!failing)
            logger.warn(
              { err: describeError(error) },
              'heartbeat not written; producers will count this worker as gone',
            );
          failing = true;
        },
      )
      .finally(() => (pending = undefined));
    return pending;
  };
  const timer = setInterval(() => void beat(), HEARTBEAT_INTERVAL_MS);
  timer.unref();
  return {
    first: beat(),
    stop: async () => {
      clearInterval(timer);
      await bounded(redis.zrem(key, workerId));
    },
  };
}

/** Starts BullMQ workers on the rerank (and warm) queue running a RerankProcessor; resolves once they are connected. */
export async function startRerankWorker(options: RerankWorkerOptions): Promise<RerankWorker> {
  const { concurrency = 1 } = options;
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new ValidationError('concurrency', 'must be an integer >= 1');
  if (options.batchSize !== undefined && !(Number.isInteger(options.batchSize) && options.batchSize >= 1))
    throw new ValidationError('batchSize', 'must be an integer >= 1');
  const logger = options.logger ?? silent;
  const connections = queueConnections(options.connection, (error) =>
    logger.warn({ err: describeError(error) }, 'redis connection error'),
  );
  const processor = new RerankProcessor(options, connections);
  const { names } = processor;
  const common = {
    connection: connections.blocking,
    prefix: names.prefix,
    lockDuration: options.lockDuration ?? 30_000,
    stalledInterval: options.stalledInterval ?? 30_000,
    maxStalledCount: options.maxStalledCount ?? 2,
    streams: { events: { maxLen: EVENTS_MAX_LEN } },
  };
  const workers: Worker[] = [
    new Worker<RerankJob, RerankColumns>(names.rerank, (job) => processor.rerank(job), { ...common, concurrency }),
  ];
  if (options.warm !== false)
    workers.push(
      new Worker<WarmJob, WarmJobResult>(names.warm, (job) => processor.warm(job), { ...common, concurrency: 1 }),
    );
  for (const w of workers) {
    w.on('error', (error) => logger.error({ err: describeError(error) }, 'worker error'));
    w.on('stalled', (jobId) => logger.warn({ jobId }, 'job stalled; it will be retried'));
  }
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  const workerId = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  if (options.store instanceof RedisVectorStore && options.store.fastReadsOff)
    logger.info({ reason: options.store.fastReadsOff }, 'vector cache: fast reader off');
  const heartbeat = startHeartbeat(connections.command, names, workerId, logger);
  await heartbeat.first;
  let closing: Promise<void> | undefined;
  return {
    names,
    workerId,
    close() {
      // each step bounded: in-flight jobs get their time while Redis answers; a Redis that does not, does not hold us
      closing ??= Promise.all([heartbeat.stop(), bounded(Promise.allSettled(workers.map((w) => w.close())))])
        .then(() => bounded(Promise.allSettled(workers.map((w) => w.disconnect()))))
        .then(() => closeConnections(connections));
      return closing;
    },
  };
}
