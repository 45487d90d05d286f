import { randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { Queue, QueueEvents, type Job, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { UnavailableError, ValidationError, withDeadline, type Candidate } from '@dotrank/core';
import {
  bounded,
  closeConnections,
  isCluster,
  queueConnections,
  type QueueConnection,
  type QueueConnections,
} from './connections.js';
import { NoWorkersError, RerankJobFailedError, rerankDeadline } from './errors.js';
import { DEFAULT_MAX_CANDIDATES, validateRerankRequest } from './schemas.js';
import { LoadShedder } from './shedding.js';
import type { Reranker, RerankOptions, RerankRequest, RerankResult } from './types.js';
import {
  EVENTS_MAX_LEN,
  HEARTBEAT_TTL_MS,
  RERANK_JOB,
  TEXTS_OMITTED,
  decodeFailure,
  heartbeatKey,
  lookupOf,
  windowedLookupOf,
  payloadKey,
  queueNames,
  rerankColumnsSchema,
  resultFromColumns,
  type QueueNames,
  type RerankColumns,
  type RerankJob,
  type RerankLookup,
  type WindowedLookup,
} from './wire.js';
import type { CandidateWindows } from './pipeline.js';
import { DirectReplies } from './replies.js';
import type { PassageWindow } from '@dotrank/encoder';

/** Failed jobs kept at most (besides their age, failedJobTtlSeconds). */
const FAILED_JOBS_KEPT = 5_000;

/**
 * Default job options for rerank jobs: short-lived results, bounded failed-job history, 3 attempts. A job asking for a
 * direct reply is removed as it completes instead (its result travels in the reply and the completed event, wire.ts).
 */
export const RERANK_JOB_OPTIONS: JobsOptions = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 100 },
  removeOnComplete: { age: 60, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600, count: FAILED_JOBS_KEPT },
};

export interface QueueRerankerOptions {
  /** REDIS_URL, or an ioredis client to share (not closed by close()). */
  connection: QueueConnection;
  /** DOTRANK_QUEUE_PREFIX: the queues are `<prefix>-rerank` and `<prefix>-warm`. */
  queuePrefix: string;
  /** Deadline when rerank() is given none (DOTRANK_RERANK_DEADLINE_MS); default none: wait for the result. */
  deadlineMs?: number;
  /** Most candidates per request (DOTRANK_MAX_CANDIDATES); default 1000. */
  maxCandidates?: number;
  /**
   * How long a failed job stays in Redis, in seconds (DOTRANK_FAILED_JOB_TTL_SECONDS; default 7 days): it holds the
   * query text, the request id, the candidate ids, text hashes and first-stage scores (never the texts).
   */
  failedJobTtlSeconds?: number;
  /** Overrides of RERANK_JOB_OPTIONS (3 attempts, exponential backoff from 100 ms, bounded history). */
  jobOptions?: JobsOptions;
  /**
   * Long documents split into passage windows here (the tokenizer is all this needs of the model), scored by the
   * worker with DOTRANK_DOC_SCORE; absent: each candidate's whole text.
   */
  windows?: CandidateWindows;
  /**
   * Ask workers to publish each result on this producer's reply channel as well (wire.ts: direct reply), which saves
   * the wait for BullMQ's completion and its events stream (1-3 ms a rerank). Default true on a single Redis; always
   * off on a Redis Cluster (results come through the events stream there). Costs one more connection.
   */
  directReplies?: boolean;
}

type RerankQueue = Queue<RerankJob, RerankColumns>;

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

/** How long a heartbeat count is reused: requests do not pay a Redis round trip each. */
const WORKERS_CACHE_MS = 1000;
/** How long counting workers may take before the count is given up as unknown. */
const WORKERS_COUNT_MS = 1000;
/** Text hashes a producer remembers as cached (about 100 bytes each: 10 MB at most). */
const KNOWN_CACHED_TEXTS = 100_000;

/**
 * A set that forgets its oldest members beyond `limit` (first in, first out: a Map keeps insertion order). A member
 * forgotten while still cached costs one job with its texts, after which it is learnt again.
 */
class RecentSet {
  private readonly members = new Map<string, true>();
  constructor(private readonly limit: number) {}
  has(member: string): boolean {
    return this.members.has(member);
  }
  add(member: string): void {
    if (this.members.has(member)) return;
    this.members.set(member, true);
    if (this.members.size > this.limit) this.members.delete(this.members.keys().next().value!);
  }
  delete(member: string): void {
    this.members.delete(member);
  }
}

/** Thrown inside the producer: the job went without texts and met an evicted vector; it is sent again with them. */
class TextsNeeded extends Error {}

/** Whether a job's failure is the worker's TextsOmittedError (wire.ts). */
const isTextsOmitted = (error: unknown) =>
  error instanceof RerankJobFailedError && error.field === 'payload' && error.problem === TEXTS_OMITTED;

/** How long a payload outlives its deadline (or lives, with no deadline) should its producer die. */
const PAYLOAD_TTL_MARGIN_MS = 60_000;
const PAYLOAD_TTL_NO_DEADLINE_MS = 24 * 3600_000;

/** The wire job for a valid request (see wire.ts): its fields and the lookup columns, never the texts. */
function wireJob(
  valid: RerankRequest,
  enqueuedAt: number,
  deadlineAt: number | undefined,
  split: { lookup: RerankLookup; docScore: string } | undefined,
): RerankJob {
  return {
    query: valid.query,
    fusion: valid.fusion,
    ...(valid.k !== undefined ? { k: valid.k } : {}),
    ...(valid.alpha !== undefined ? { alpha: valid.alpha } : {}),
    ...(valid.normalization !== undefined ? { normalization: valid.normalization } : {}),
    ...(valid.requestId !== undefined ? { requestId: valid.requestId } : {}),
    enqueuedAt,
    ...(deadlineAt !== undefined ? { deadlineAt } : {}),
    ...(split ? { docScore: split.docScore } : {}),
    lookup: split?.lookup ?? lookupOf(valid.candidates),
  };
}

/**
 * The queue's producer: validates, writes the candidates' texts beside the job and adds it (wire.ts), then waits for
 * the worker's columns through one shared QueueEvents until the deadline. A passed deadline rejects with
 * RerankTimeoutError (and removes the job if it is still waiting); a job the worker failed, with RerankJobFailedError
 * carrying the worker's error code; an unreachable queue, with UnavailableError (code 'unavailable').
 */
export class QueueReranker implements Reranker {
  readonly queue: RerankQueue;
  private readonly names: QueueNames;
  private readonly connections: QueueConnections;
  /** One connection runs commands in order: the payload is stored before the job exists, without waiting for it. */
  private readonly payloadBeforeJob: boolean;
  private readonly events: QueueEvents;
  private readonly options: QueueRerankerOptions;
  private readonly columnsSchema = rerankColumnsSchema();
  private readonly payloadBuffers = new PayloadBuffers();
  /** This producer's reranks under way and its recent throughput: refuses a rerank that could not finish in time. */
  readonly shedder = new LoadShedder();
  /** Failed-job retention from failedJobTtlSeconds (the count bound of RERANK_JOB_OPTIONS stays). */
  private readonly retention: JobsOptions;
  /** The last heartbeat count and when it was read; the read under way, shared by everyone who asks meanwhile. */
  private workers: { count: number; at: number; reading?: Promise<number> } = { count: 0, at: -Infinity };
  private lost = 0;
  /** Text hashes this producer's jobs found cached (bounded): jobs of only such texts go without them. */
  private readonly cachedTexts = new RecentSet(KNOWN_CACHED_TEXTS);
  private textsOmitted = 0;
  private textsResent = 0;
  /** This producer's reply channel (directReplies), when on. */
  private readonly replies: DirectReplies | undefined;

  constructor(options: QueueRerankerOptions) {
    this.options = options;
    const ttl = options.failedJobTtlSeconds;
    if (ttl !== undefined && !(Number.isInteger(ttl) && ttl >= 1))
      throw new ValidationError('failedJobTtlSeconds', 'must be an integer >= 1');
    this.retention = ttl !== undefined ? { removeOnFail: { age: ttl, count: FAILED_JOBS_KEPT } } : {};
    this.connections = queueConnections(options.connection);
    this.names = queueNames(options.queuePrefix, { cluster: isCluster(this.connections.command) });
    const { command, blocking } = this.connections;
    // a cluster client sends each node's commands on a connection of their own and re-routes them on MOVED/failover:
    // although the payload shares the queue's slot ({prefix}), do not rely on ordering there
    this.payloadBeforeJob = command instanceof Redis;
    const { prefix, rerank } = this.names;
    this.queue = new Queue(rerank, { connection: command, prefix, streams: { events: { maxLen: EVENTS_MAX_LEN } } });
    this.events = new QueueEvents(rerank, { connection: blocking, prefix });
    // errors surface through the rerank calls; keep the emitters from throwing on 'error'
    this.queue.on('error', () => undefined);
    this.events.on('error', () => undefined);
    // every waiting rerank holds one listener on the queue and its events: no leak, just concurrency
    this.queue.setMaxListeners(0);
    this.events.setMaxListeners(0);
    if (options.directReplies !== false && blocking instanceof Redis) {
      const subscriber = blocking.duplicate();
      subscriber.on('error', () => undefined);
      this.replies = new DirectReplies(subscriber, this.names);
      // jobs ask for direct replies once the subscription is up; until then results come through the events
      void this.replies.start();
    }
  }

  /**
   * Resolves once the producer, its event listener and its reply subscription are connected. A refused subscription
   * leaves direct replies off (see `directRepliesOff`), it does not fail.
   */
  async ready(): Promise<void> {
    await Promise.all([this.queue.waitUntilReady(), this.events.waitUntilReady(), this.replies?.start()]);
  }

  /**
   * Resolves once the reply subscription was tried: why Redis refused it (e.g. an ACL user without `subscribe` or the
   * queue's channels), or undefined. Worth a warning at start: every rerank then waits for the events stream.
   */
  async directRepliesRefused(): Promise<string | undefined> {
    await this.replies?.start();
    return this.replies?.unavailable;
  }

  /** Why results do not come as direct replies (wire.ts), or undefined when they do. */
  get directRepliesOff(): string | undefined {
    if (!this.replies)
      return this.options.directReplies === false ? 'turned off (directReplies: false)' : 'Redis Cluster';
    return this.replies.unavailable ?? (this.replies.active ? undefined : 'reply subscription not connected');
  }

  /**
   * Workers seen within HEARTBEAT_TTL_MS (wire.ts), read at most once a second (bounded: a Redis that does not
   * answer in time rejects with UnavailableError).
   */
  async workerCount(): Promise<number> {
    if (Date.now() - this.workers.at < WORKERS_CACHE_MS) return this.workers.count;
    this.workers.reading ??= withDeadline(
      () => this.connections.command.zcount(heartbeatKey(this.names), Date.now() - HEARTBEAT_TTL_MS, '+inf'),
      {
        deadlineMs: WORKERS_COUNT_MS,
        onTimeout: (ms) => new UnavailableError('queue', `Redis did not answer within ${ms} ms (counting workers)`),
      },
    )
      .then((count) => {
        this.workers = { count, at: Date.now() };
        return count;
      })
      .finally(() => delete this.workers.reading);
    return this.workers.reading;
  }

  /** Whether any worker is alive (its heartbeat seen within HEARTBEAT_TTL_MS). */
  async workersAlive(): Promise<boolean> {
    return (await this.workerCount()) > 0;
  }

  async rerank(req: RerankRequest, opts: RerankOptions = {}): Promise<RerankResult> {
    const valid = validateRerankRequest(req, this.options.maxCandidates ?? DEFAULT_MAX_CANDIDATES);
    const deadlineMs = opts.deadlineMs ?? this.options.deadlineMs;
    const deadline = rerankDeadline({ ...opts, ...(deadlineMs !== undefined ? { deadlineMs } : {}) });
    return withDeadline(async (signal) => {
      // nobody would take the job: answer now rather than wait out the deadline. A count that failed (Redis hung
      // or gone) says nothing about workers: enqueue, which then fails as it should (unavailable, or the deadline)
      if (!(await this.workersAlive().catch(() => true))) throw new NoWorkersError(this.names.rerank);
      // expected wait past the deadline: answer now (degraded, overloaded) rather than wait it out
      const finished = this.shedder.admit(deadlineMs);
      // past its deadline the job is removed, or expires in the worker: no longer under way
      signal.addEventListener('abort', () => finished(false), { once: true });
      try {
        // fusion bm25 reads no vectors: nothing to split
        const windows = this.options.windows;
        const split =
          windows && valid.fusion !== 'bm25' ? windowedLookupOf(valid.candidates, windows.split) : undefined;
        try {
          return await this.attempt(valid, deadlineMs, split, signal, true);
        } catch (error) {
          // sent without its texts, it met an evicted vector: once more, with them
          if (!(error instanceof TextsNeeded)) throw error;
          this.textsResent++;
          return await this.attempt(valid, deadlineMs, split, signal, false);
        }
      } finally {
        // a rerank nobody waited for to the end is no measure of throughput
        finished(!signal.aborted);
      }
    }, deadline);
  }

  /** One job for the rerank: enqueued (without its texts when `mayOmitTexts` and all are known cached), awaited. */
  private async attempt(
    valid: RerankRequest,
    deadlineMs: number | undefined,
    split: WindowedLookup | undefined,
    signal: AbortSignal,
    mayOmitTexts: boolean,
  ): Promise<RerankResult> {
    const jobId = randomUUID();
    const key = payloadKey(this.names, jobId);
    let omitted = false;
    let abandon: (() => void) | undefined;
    // listening before the job exists: neither its reply nor its events can come first
    const outcome = this.outcome(jobId, deadlineMs !== undefined ? deadlineMs + 1000 : undefined);
    try {
      const enqueued = await this.enqueue(valid, jobId, key, deadlineMs, split, mayOmitTexts);
      const { job, hashes } = enqueued;
      // without a reply channel, the events alone tell: they may have been missed if the listener was just starting
      if (!job.data.replyTo) outcome.checkFinished(job);
      omitted = enqueued.omitted;
      // nobody waits any more: remove the job while it is still waiting (a late worker skips it by its deadlineAt)
      abandon = () => void this.dropLate(job).then(() => (omitted ? undefined : this.dropPayload(key)));
      if (signal.aborted) abandon();
      else signal.addEventListener('abort', abandon, { once: true });
      signal.throwIfAborted();
      try {
        const result = await this.result(job, outcome.finished, valid.candidates, split?.windows);
        this.learnCached(hashes, result, valid.candidates);
        return result;
      } catch (error) {
        if (!omitted || !isTextsOmitted(error)) throw error;
        // not a failure anyone needs to see among the queue's failed jobs
        void job.remove().catch(() => undefined);
        for (const list of hashes) for (const hash of list) this.cachedTexts.delete(hash);
        throw new TextsNeeded();
      }
    } finally {
      outcome.cancel();
      // this job is settled: a later abort (the resent job's deadline) must not count it as lost
      if (abandon) signal.removeEventListener('abort', abandon);
      // whatever the outcome, nobody needs the candidates any more
      if (!omitted) void this.dropPayload(key);
    }
  }

  /**
   * After a job that found every vector cached, its hashes are known cached: the next job of the same texts goes
   * without them. Textless candidates (never cached) are not remembered.
   */
  private learnCached(hashes: string[][], result: RerankResult, candidates: readonly Candidate[]): void {
    // fusion bm25 reads no vectors: its zero misses say nothing
    if (result.cache.misses !== 0 || result.fusion === 'bm25') return;
    const textless = new Set(result.textless ?? []);
    hashes.forEach((list, i) => {
      if (textless.size > 0 && textless.has(candidates[i]!.id)) return;
      for (const hash of list) this.cachedTexts.add(hash);
    });
  }

  /**
   * Adds the job: without its texts when `mayOmitTexts` and every hash is known cached, else with them beside it
   * (addWithTexts); an unreachable queue is an UnavailableError.
   */
  private async enqueue(
    valid: RerankRequest,
    jobId: string,
    key: string,
    deadlineMs: number | undefined,
    split: WindowedLookup | undefined,
    mayOmitTexts: boolean,
  ): Promise<{ job: Job<RerankJob, RerankColumns>; hashes: string[][]; omitted: boolean }> {
    const enqueuedAt = Date.now();
    const deadlineAt = deadlineMs !== undefined ? enqueuedAt + deadlineMs : undefined;
    const windowed = split ? { lookup: split.lookup, docScore: this.options.windows!.docScore } : undefined;
    const data = wireJob(valid, enqueuedAt, deadlineAt, windowed);
    if (this.replies?.active) data.replyTo = this.replies.id;
    const jobOptions = {
      ...RERANK_JOB_OPTIONS,
      // its producer has the result before BullMQ completes it: it could not remove it then (still locked)
      ...(data.replyTo ? { removeOnComplete: true } : {}),
      ...this.retention,
      ...this.options.jobOptions,
      jobId,
    };
    const hashes = data.lookup.textHashes;
    const omitted =
      mayOmitTexts && data.fusion !== 'bm25' && hashes.every((list) => list.every((h) => this.cachedTexts.has(h)));
    if (omitted) {
      data.textsOmitted = true;
      this.textsOmitted++;
    }
    try {
      const job = omitted
        ? await this.queue.add(RERANK_JOB, data, jobOptions)
        : await this.addWithTexts(
            data,
            jobOptions,
            key,
            deadlineMs,
            split?.texts ?? valid.candidates.map((c) => c.text),
          );
      return { job, hashes, omitted };
    } catch (error) {
      throw new UnavailableError('queue', `could not enqueue rerank job: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  /** Writes the texts beside the job (the payload key), then adds the job; a failed write removes the job again. */
  private async addWithTexts(
    data: RerankJob,
    jobOptions: JobsOptions,
    key: string,
    deadlineMs: number | undefined,
    texts: string[],
  ): Promise<Job<RerankJob, RerankColumns>> {
    // a Buffer argument, which ioredis writes as is (a 300 KB string argument costs it several ms), encoded with
    // TextEncoder.encodeInto into a reused buffer (Buffer.from(string) is several times slower at this size)
    const payload = this.payloadBuffers.encode(JSON.stringify(texts));
    const ttl = (deadlineMs ?? PAYLOAD_TTL_NO_DEADLINE_MS) + PAYLOAD_TTL_MARGIN_MS;
    const written = this.connections.command.psetex(key, ttl, payload.bytes).finally(payload.release);
    if (!this.payloadBeforeJob) await written;
    written.catch(() => undefined);
    const job = await this.queue.add(RERANK_JOB, data, jobOptions);
    await written.catch((error: unknown) => {
      void job.remove().catch(() => undefined);
      throw error;
    });
    return job;
  }

  /** Waits for the job's columns and turns them into the result; a failed or malformed job is RerankJobFailedError. */
  private async result(
    job: Job<RerankJob, RerankColumns>,
    finished: Promise<unknown>,
    candidates: RerankRequest['candidates'],
    windows: PassageWindow[][] | undefined,
  ): Promise<RerankResult> {
    let raw: unknown;
    try {
      raw = await finished;
    } catch (error) {
      throw new RerankJobFailedError(decodeFailure((error as Error).message ?? String(error)), job.id);
    }
    const malformed = (why: string) =>
      new RerankJobFailedError(
        { code: 'internal', field: 'result', message: `rerank job ${job.id} returned a malformed result (${why})` },
        job.id,
      );
    const parsed = this.columnsSchema.safeParse(raw);
    if (!parsed.success) throw malformed(parsed.error.issues[0]?.path.join('.') || 'shape');
    const result = resultFromColumns(parsed.data, candidates, windows);
    if (typeof result === 'string') throw malformed(result);
    // the result is ours now: do not keep the job in Redis (a malformed one stays for inspection; a job with a reply
    // channel removes itself as it completes)
    if (!job.data.replyTo) void job.remove().catch(() => undefined);
    return result;
  }

  /**
   * The job's return value once it completes, from its direct reply or its `completed` event, whichever comes first;
   * `finished` rejects with its failure, after `ttl` ms, or when the queue closes. Set up before the job is added;
   * `cancel` frees the listeners (a settled job, or one never added). Instead of BullMQ's job.waitUntilFinished, whose
   * check for a job that finished before anyone listened runs inside an async Promise executor: a Redis that went
   * away there rejects a promise nobody holds, and the API process died of the unhandled rejection (the
   * fault-injection suite, Redis killed under load). Here a failed check is ignored: the events, the ttl or the
   * caller's deadline decide.
   */
  private outcome(
    id: string,
    ttl: number | undefined,
  ): { finished: Promise<unknown>; checkFinished(job: Job): void; cancel(): void } {
    const completed = `completed:${id}`;
    const failed = `failed:${id}`;
    // per-job event names (`completed:<id>`) are outside BullMQ's typed listener map
    const events = this.events as unknown as EventEmitter;
    const queue = this.queue as unknown as EventEmitter;
    let timer: NodeJS.Timeout | undefined;
    const release = () => {
      clearTimeout(timer);
      events.off(completed, onCompleted);
      events.off(failed, onFailed);
      queue.off('closing', onClosing);
      this.replies?.forget(id);
    };
    let resolve!: (value: unknown) => void;
    let reject!: (error: Error) => void;
    const finished = new Promise<unknown>((res, rej) => {
      resolve = (value) => (release(), res(value));
      reject = (error) => (release(), rej(error));
    });
    // a job never added is cancelled: nobody awaits its outcome
    finished.catch(() => undefined);
    const onCompleted = (args: { returnvalue: unknown }) => resolve(args.returnvalue);
    const onFailed = (args: { failedReason: string }) => reject(new Error(args.failedReason));
    const onClosing = () => reject(new Error(`queue closing while job ${id} ran`));
    if (ttl !== undefined)
      timer = setTimeout(() => reject(new Error(`no finish notification for job ${id} in ${ttl} ms`)), ttl);
    events.on(completed, onCompleted);
    events.on(failed, onFailed);
    queue.on('closing', onClosing);
    this.replies?.expect(id, resolve);
    const checkFinished = (job: Job) =>
      void this.events
        .waitUntilReady()
        .then(() => job.getState())
        .then(async (state) => {
          if (state !== 'completed' && state !== 'failed') return;
          const done = await this.queue.getJob(id);
          if (state === 'completed') onCompleted({ returnvalue: done?.returnvalue });
          else onFailed({ failedReason: done?.failedReason ?? `job ${id} failed` });
        })
        .catch(() => undefined);
    return { finished, checkFinished, cancel: release };
  }

  private async dropPayload(key: string): Promise<void> {
    try {
      await this.connections.command.del(key);
    } catch {
      // Redis unreachable: the payload's TTL removes it
    }
  }

  /** A job nobody waits for: remove it while it is still waiting; an active one is skipped/expired by the worker. */
  private async dropLate(job: Job): Promise<void> {
    try {
      const state = await job.getState();
      if (state === 'waiting' || state === 'delayed' || state === 'prioritized') await job.remove();
      // added, never finished, and no longer in Redis: lost with a master that died before its replica had it
      if (state === 'unknown') this.lost++;
    } catch {
      // locked by a worker or already gone: removeOnComplete/removeOnFail bound what remains
    }
  }

  /**
   * Jobs found gone from Redis when their deadline passed (a Redis Cluster master or a Redis without persistence
   * that died before the job reached a replica or disk). Each was answered at its deadline like any timeout.
   */
  get lostJobs(): number {
    return this.lost;
  }

  /**
   * Jobs sent without their texts (every hash known cached: wire.ts) and, of those, jobs sent again with them
   * because a vector had been evicted meanwhile.
   */
  get payloadStats(): { omitted: number; resent: number } {
    return { omitted: this.textsOmitted, resent: this.textsResent };
  }

  /** Closes the queue and its listener, each bounded (a Redis that stopped answering must not hold a shutdown). */
  async close(): Promise<void> {
    await bounded(Promise.allSettled([this.events.close(), this.queue.close(), this.replies?.close()]));
    await closeConnections(this.connections);
  }
}
