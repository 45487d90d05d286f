import { randomUUID } from 'node:crypto';
import { Queue, QueueEvents, type ConnectionOptions, type Job, type JobsOptions } from 'bullmq';
import { Cluster, Redis } from 'ioredis';
import { DotrankError, UnavailableError, ValidationError, type Passage } from '@dotrank/core';
import { textHash } from '@dotrank/vector-cache';
import { RerankAbortedError, RerankTimeoutError } from './errors.js';
import {
  DEFAULT_MAX_CANDIDATES,
  payloadKeyFor,
  queueNames,
  rerankColumnsResultSchema,
  rerankResultSchema,
  validateRerankRequest,
  type RerankColumnsResult,
  type RerankEnvelope,
  type RerankJobData,
  type RerankJobResult,
  type WarmJobData,
  type WarmJobResult,
} from './schemas.js';
import type { RankedItem, Reranker, RerankOptions, RerankRequest, RerankResult } from './types.js';

/** A Redis URL, ioredis options, or an ioredis instance (shared; BullMQ duplicates it for blocking reads). */
export type QueueConnection = ConnectionOptions | string;

/** Job names on the queues. */
export const RERANK_JOB = 'rerank';
export const WARM_JOB = 'warm';
/** Keep the queue event streams short: results travel through them. */
export const EVENTS_MAX_LEN = 2000;

/** Default job options for rerank jobs: short-lived results, bounded failed-job history, 3 attempts. */
export const RERANK_JOB_OPTIONS: JobsOptions = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 100 },
  removeOnComplete: { age: 60, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 5_000 },
};
export const WARM_JOB_OPTIONS: JobsOptions = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 1_000 },
  removeOnComplete: { age: 24 * 3600, count: 100_000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
};

export function toConnection(connection: QueueConnection, blocking = false): ConnectionOptions {
  if (typeof connection !== 'string') return connection;
  const redis = new Redis(connection, { maxRetriesPerRequest: blocking ? null : 3, enableOfflineQueue: true });
  // a Redis that is down makes every command fail, which callers see (and the API turns into a degraded answer);
  // without a listener ioredis would also print "Unhandled error event" on every reconnect attempt
  redis.on('error', () => undefined);
  return redis;
}

export interface QueueRerankerOptions {
  connection: QueueConnection;
  /** DOTRANK_QUEUE_PREFIX. */
  queuePrefix: string;
  /** Default deadline when rerank() gets none (DOTRANK_RERANK_DEADLINE_MS). */
  deadlineMs?: number;
  maxCandidates?: number;
  jobOptions?: JobsOptions;
  /**
   * Put the candidates inside the job (true) instead of beside it in a Redis string the job names (default false).
   * Beside it, a 1,000-candidate job is a few hundred bytes for BullMQ to add and hand out, and the worker encodes
   * the query while it reads the candidates; inline is what workers before 0.2 understand.
   */
  candidatesInline?: boolean;
}

const textEncoder = new TextEncoder();

/**
 * Buffers for candidates payloads, reused from one rerank to the next: a fresh 300 KB allocation per job is paid in
 * page faults (several ms on some VMs), a reused one is not. A buffer goes back to the pool once Redis has replied,
 * so the socket no longer needs it; at most `max` are kept.
 */
class PayloadBuffers {
  private readonly free: Buffer[] = [];
  constructor(private readonly max = 8) {}

  /** The UTF-8 bytes of `text` in a pooled buffer (a view of exactly those bytes) and its release. */
  encode(text: string): { bytes: Buffer; release: () => void } {
    // UTF-8 takes at most 3 bytes per UTF-16 unit
    const need = text.length * 3;
    let buf = this.free.pop();
    if (!buf || buf.length < need) buf = Buffer.allocUnsafeSlow(Math.max(need, 64 * 1024));
    const { written } = textEncoder.encodeInto(text, buf);
    const owned = buf;
    return {
      bytes: owned.subarray(0, written),
      release: () => {
        if (this.free.length < this.max) this.free.push(owned);
      },
    };
  }
}

/** How long a candidates payload outlives its deadline (or lives, with no deadline) should its producer die. */
const PAYLOAD_TTL_MARGIN_MS = 60_000;
const PAYLOAD_TTL_NO_DEADLINE_MS = 24 * 3600_000;

/**
 * BullMQ producer: validates, adds a rerank job, waits for its result through QueueEvents until the deadline.
 * On deadline: RerankTimeoutError (code 'timeout'); the job is removed if still waiting, and a worker that picks it
 * up late skips it (its data carries `deadlineAt`).
 */
export class QueueReranker implements Reranker {
  readonly queue: Queue<RerankJobData | RerankEnvelope, RerankJobResult | RerankColumnsResult>;
  private readonly names: ReturnType<typeof queueNames>;
  /** Writes and deletes candidates payloads (the producer connection, or one of our own for plain options). */
  private readonly payloads: Redis | Cluster;
  private readonly payloadsShareQueueConnection: boolean = false;
  private readonly events: QueueEvents;
  private readonly options: QueueRerankerOptions;
  private readonly ownConnections: Redis[] = [];
  private readonly resultSchema = rerankResultSchema();
  private readonly columnsSchema = rerankColumnsResultSchema();
  private readonly payloadBuffers = new PayloadBuffers();

  constructor(options: QueueRerankerOptions) {
    this.options = options;
    const names = queueNames(options.queuePrefix);
    this.names = names;
    const producer = toConnection(options.connection);
    const blocking = toConnection(options.connection, true);
    for (const c of [producer, blocking]) if (typeof options.connection === 'string') this.ownConnections.push(c as Redis);
    if (producer instanceof Redis || producer instanceof Cluster) {
      this.payloads = producer;
      // in a cluster the payload's slot may live on another node than the queue's: no ordering to rely on
      this.payloadsShareQueueConnection = producer instanceof Redis;
    } else {
      const own = new Redis({ ...(producer as object), maxRetriesPerRequest: 3 });
      own.on('error', () => undefined);
      this.payloads = own;
      this.ownConnections.push(own);
    }
    const streams = { events: { maxLen: EVENTS_MAX_LEN } };
    this.queue = new Queue(names.rerank, { connection: producer, prefix: names.prefix, streams });
    this.events = new QueueEvents(names.rerank, { connection: blocking, prefix: names.prefix });
    // errors surface through the rerank calls; keep the emitters from throwing on 'error'
    this.queue.on('error', () => undefined);
    this.events.on('error', () => undefined);
    // every waiting rerank holds one 'closing' listener on the queue: no leak, just concurrency
    this.queue.setMaxListeners(0);
    this.events.setMaxListeners(0);
  }

  /** Resolves once the producer and its event listener are connected. */
  async ready(): Promise<void> {
    await Promise.all([this.queue.waitUntilReady(), this.events.waitUntilReady()]);
  }

  async rerank(req: RerankRequest, opts: RerankOptions = {}): Promise<RerankResult> {
    const valid = validateRerankRequest(req, this.options.maxCandidates ?? DEFAULT_MAX_CANDIDATES);
    const deadlineMs = opts.deadlineMs ?? this.options.deadlineMs;
    if (deadlineMs !== undefined && !(deadlineMs > 0)) throw new ValidationError('deadlineMs', 'must be > 0');
    if (opts.signal?.aborted) throw new RerankAbortedError();
    const enqueuedAt = Date.now();
    const deadlineAt = deadlineMs !== undefined ? enqueuedAt + deadlineMs : undefined;
    const jobId = randomUUID();
    const common = {
      query: valid.query,
      fusion: valid.fusion,
      ...(valid.k !== undefined ? { k: valid.k } : {}),
      ...(valid.alpha !== undefined ? { alpha: valid.alpha } : {}),
      ...(valid.normalization !== undefined ? { normalization: valid.normalization } : {}),
      ...(valid.requestId !== undefined ? { requestId: valid.requestId } : {}),
      enqueuedAt,
      ...(deadlineAt !== undefined ? { deadlineAt } : {}),
    };
    const candidates = valid.candidates.map((c) => ({ id: c.id, text: c.text, score: c.score }));
    const jobOptions = { ...RERANK_JOB_OPTIONS, ...this.options.jobOptions, jobId };
    let payloadKey: string | undefined;
    let job: Job<RerankJobData | RerankEnvelope, RerankJobResult | RerankColumnsResult>;
    try {
      if (this.options.candidatesInline) {
        job = await this.queue.add(RERANK_JOB, { ...common, candidates }, jobOptions);
      } else {
        payloadKey = payloadKeyFor(this.names, jobId);
        // a Buffer argument, which ioredis writes as is (a 300 KB string argument costs it several ms), encoded with
        // TextEncoder.encodeInto into a reused buffer (Buffer.from(string) is several times slower at this size)
        const payload = this.payloadBuffers.encode(JSON.stringify(candidates));
        const written = this.payloads
          .psetex(payloadKey, (deadlineMs ?? PAYLOAD_TTL_NO_DEADLINE_MS) + PAYLOAD_TTL_MARGIN_MS, payload.bytes)
          .finally(payload.release);
        // the lookup lets a worker score cached vectors without reading the payload at all
        const data: RerankEnvelope = {
          ...common,
          payloadKey,
          lookup: {
            ids: candidates.map((c) => c.id),
            textHashes: candidates.map((c) => textHash(c.text)),
            scores: candidates.map((c) => c.score),
          },
        };
        if (this.payloadsShareQueueConnection) {
          // one connection runs commands in order: the payload is stored before the job exists, without a round trip
          written.catch(() => undefined);
          job = await this.queue.add(RERANK_JOB, data, jobOptions);
          try {
            await written;
          } catch (error) {
            void job.remove().catch(() => undefined);
            throw error;
          }
        } else {
          await written;
          job = await this.queue.add(RERANK_JOB, data, jobOptions);
        }
      }
    } catch (error) {
      void this.dropPayload(payloadKey);
      throw new UnavailableError('queue', `could not enqueue rerank job: ${(error as Error).message}`, { cause: error });
    }
    let onAbort: (() => void) | undefined;
    const aborted = opts.signal
      ? new Promise<never>((_, reject) => {
          onAbort = () => reject(new RerankAbortedError(String(opts.signal!.reason ?? 'rerank aborted')));
          opts.signal!.addEventListener('abort', onAbort, { once: true });
        })
      : undefined;
    let raw: unknown;
    try {
      const remaining = deadlineAt !== undefined ? Math.max(1, deadlineAt - Date.now()) : undefined;
      const finished = job.waitUntilFinished(this.events, remaining);
      raw = await (aborted ? Promise.race([finished, aborted]) : finished);
    } catch (error) {
      const message = (error as Error).message ?? String(error);
      if (error instanceof RerankAbortedError) {
        void this.dropLate(job);
        throw error;
      }
      if (/timed out before finishing/.test(message) || /deadline/.test(message)) {
        void this.dropLate(job);
        throw new RerankTimeoutError(deadlineMs ?? 0);
      }
      if (error instanceof DotrankError) throw error;
      throw new UnavailableError('reranker', `rerank job ${job.id} failed: ${message}`, { cause: error });
    } finally {
      if (onAbort) opts.signal?.removeEventListener('abort', onAbort);
      // whatever the outcome, nobody needs the candidates any more (a late worker finds the deadline passed first)
      void this.dropPayload(payloadKey);
    }
    const malformed = (why: string) => new UnavailableError('reranker', `rerank job ${job.id} returned a malformed result (${why})`);
    // the result is ours now: do not keep the job in Redis (a malformed one stays for inspection)
    const done = () => void job.remove().catch(() => undefined);
    if (typeof raw === 'object' && raw !== null && 'ranked' in raw) {
      const parsed = this.columnsSchema.safeParse(raw);
      if (!parsed.success) throw malformed(parsed.error.issues[0]?.path.join('.') || 'shape');
      const { index, score, tasbScore } = parsed.data.ranked;
      const n = valid.candidates.length;
      if (score.length !== index.length || (tasbScore && tasbScore.length !== index.length)) throw malformed('column lengths differ');
      const seen = new Uint8Array(n);
      const results: RankedItem[] = new Array(index.length);
      for (let r = 0; r < index.length; r++) {
        const i = index[r]!;
        if (i >= n || seen[i]) throw malformed(`ranked.index.${r}`);
        seen[i] = 1;
        const c = valid.candidates[i]!;
        const item: RankedItem = { id: c.id, rank: r + 1, score: score[r]!, bm25Score: c.score, text: c.text };
        if (tasbScore) item.tasbScore = tasbScore[r]!;
        results[r] = item;
      }
      done();
      return { results, fusion: parsed.data.fusion, timings: parsed.data.timings, cache: parsed.data.cache };
    }
    const parsed = this.resultSchema.safeParse(raw);
    if (!parsed.success) throw malformed(parsed.error.issues[0]?.path.join('.') || 'shape');
    const texts = new Map(valid.candidates.map((c) => [c.id, c.text] as const));
    const results: RankedItem[] = parsed.data.results.map((r) => {
      const item: RankedItem = { id: r.id, rank: r.rank, score: r.score, bm25Score: r.bm25Score, text: texts.get(r.id) ?? '' };
      if (r.tasbScore !== undefined) item.tasbScore = r.tasbScore;
      return item;
    });
    done();
    return { results, fusion: parsed.data.fusion, timings: parsed.data.timings, cache: parsed.data.cache };
  }

  private async dropPayload(key: string | undefined): Promise<void> {
    if (!key) return;
    try {
      await this.payloads.del(key);
    } catch {
      // Redis unreachable: the payload's TTL removes it
    }
  }

  /** A job nobody waits for: remove it while it is still waiting; an active one is skipped/expired by the worker. */
  private async dropLate(job: Job): Promise<void> {
    try {
      const state = await job.getState();
      if (state === 'waiting' || state === 'delayed' || state === 'prioritized') await job.remove();
    } catch {
      // locked by a worker or already gone: removeOnComplete/removeOnFail bound what remains
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.events.close(), this.queue.close()]);
    await Promise.allSettled(this.ownConnections.map((c) => c.quit()));
  }
}

export interface WarmRunOptions {
  connection: QueueConnection;
  queuePrefix: string;
  /** Passages per job (default 1000). */
  chunkSize?: number;
  runId?: string;
}

export interface WarmProgress {
  done: number;
  total: number;
  encoded: number;
  skipped: number;
  failedChunks: number;
  finishedChunks: number;
  chunks: number;
}

export interface WarmRun {
  runId: string;
  jobIds: string[];
  total: number;
  /** Waits for every chunk job; reports aggregate progress as chunks report theirs. */
  wait(onProgress?: (p: WarmProgress) => void): Promise<WarmProgress>;
  close(): Promise<void>;
}

/**
 * Producer helper for corpus warming: splits passages into chunk jobs on the warm queue (any worker takes any chunk;
 * cached passages are skipped, so re-running a warm resumes it).
 */
export async function enqueueWarm(passages: Iterable<Passage> | AsyncIterable<Passage>, options: WarmRunOptions): Promise<WarmRun> {
  const chunkSize = options.chunkSize ?? 1000;
  if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > 10_000) throw new ValidationError('chunkSize', 'must be an integer in 1..10000');
  const names = queueNames(options.queuePrefix);
  const runId = options.runId ?? randomUUID();
  const producer = toConnection(options.connection);
  const blocking = toConnection(options.connection, true);
  const own = typeof options.connection === 'string' ? [producer as Redis, blocking as Redis] : [];
  const queue = new Queue<WarmJobData, WarmJobResult>(names.warm, { connection: producer, prefix: names.prefix, streams: { events: { maxLen: EVENTS_MAX_LEN } } });
  const events = new QueueEvents(names.warm, { connection: blocking, prefix: names.prefix });
  queue.on('error', () => undefined);
  events.on('error', () => undefined);
  await events.waitUntilReady();

  const progress = new Map<string, { done: number; encoded: number; skipped: number }>();
  const finished = new Map<string, 'completed' | 'failed'>();
  const jobIds: string[] = [];
  const sizes = new Map<string, number>();
  let total = 0;
  let listeners: (() => void)[] = [];
  const notify = () => listeners.forEach((l) => l());
  events.on('progress', ({ jobId, data }) => {
    if (!sizes.has(jobId) || typeof data !== 'object' || data === null) return;
    const d = data as { done?: number; encoded?: number; skipped?: number };
    progress.set(jobId, { done: d.done ?? 0, encoded: d.encoded ?? 0, skipped: d.skipped ?? 0 });
    notify();
  });
  events.on('completed', ({ jobId, returnvalue }) => {
    if (!sizes.has(jobId)) return;
    const r = (typeof returnvalue === 'string' ? JSON.parse(returnvalue) : returnvalue) as WarmJobResult;
    progress.set(jobId, { done: sizes.get(jobId)!, encoded: r?.encoded ?? 0, skipped: r?.skipped ?? 0 });
    finished.set(jobId, 'completed');
    notify();
  });
  events.on('failed', ({ jobId }) => {
    if (!sizes.has(jobId)) return;
    finished.set(jobId, 'failed');
    notify();
  });

  // stream: chunk jobs are added as the passages arrive (a whole corpus never sits in memory)
  let chunk: Passage[] = [];
  let pending: { name: string; data: WarmJobData; opts: JobsOptions }[] = [];
  let count = 0;
  const flushJobs = async () => {
    if (pending.length > 0) await queue.addBulk(pending);
    pending = [];
  };
  const closeChunk = async () => {
    if (chunk.length === 0) return;
    const jobId = `${runId}-${count}`;
    jobIds.push(jobId);
    sizes.set(jobId, chunk.length);
    total += chunk.length;
    pending.push({ name: WARM_JOB, data: { passages: chunk, chunk: count, runId }, opts: { ...WARM_JOB_OPTIONS, jobId } });
    count++;
    chunk = [];
    if (pending.length >= 20) await flushJobs();
  };
  for await (const p of passages as AsyncIterable<Passage>) {
    chunk.push(p.title ? { id: p.id, text: p.text, title: p.title } : { id: p.id, text: p.text });
    if (chunk.length >= chunkSize) await closeChunk();
  }
  await closeChunk();
  await flushJobs();

  const snapshot = (): WarmProgress => {
    let done = 0;
    let encoded = 0;
    let skipped = 0;
    for (const p of progress.values()) {
      done += p.done;
      encoded += p.encoded;
      skipped += p.skipped;
    }
    const failedChunks = [...finished.values()].filter((s) => s === 'failed').length;
    return { done, total, encoded, skipped, failedChunks, finishedChunks: finished.size, chunks: count };
  };

  const refreshFromRedis = async () => {
    // catches chunks that finished before we listened (e.g. very fast workers)
    for (const jobId of jobIds) {
      if (finished.has(jobId)) continue;
      const job = await queue.getJob(jobId);
      if (!job) continue;
      const state = await job.getState();
      if (state === 'completed') {
        const r = job.returnvalue as WarmJobResult;
        progress.set(jobId, { done: sizes.get(jobId)!, encoded: r?.encoded ?? 0, skipped: r?.skipped ?? 0 });
        finished.set(jobId, 'completed');
      } else if (state === 'failed') finished.set(jobId, 'failed');
    }
  };

  return {
    runId,
    jobIds,
    total,
    async wait(onProgress) {
      await refreshFromRedis();
      if (finished.size < count) {
        await new Promise<void>((resolve) => {
          const poll = setInterval(() => void refreshFromRedis().then(check).catch(() => undefined), 5_000);
          const check = () => {
            onProgress?.(snapshot());
            if (finished.size >= count) {
              clearInterval(poll);
              listeners = listeners.filter((l) => l !== check);
              resolve();
            }
          };
          listeners.push(check);
          check();
        });
      }
      const final = snapshot();
      onProgress?.(final);
      return final;
    },
    async close() {
      await Promise.allSettled([events.close(), queue.close()]);
      await Promise.allSettled(own.map((c) => c.quit()));
    },
  };
}
