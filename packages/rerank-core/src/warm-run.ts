import { randomUUID } from 'node:crypto';
import { Queue, QueueEvents, type JobsOptions } from 'bullmq';
import { ValidationError, type Passage } from '@dotrank/core';
import { closeConnections, isCluster, queueConnections, type QueueConnection } from './connections.js';
import {
  EVENTS_MAX_LEN,
  WARM_JOB,
  queueNames,
  type WarmJob,
  type WarmJobProgress,
  type WarmJobResult,
} from './wire.js';

export const WARM_JOB_OPTIONS: JobsOptions = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 1_000 },
  removeOnComplete: { age: 24 * 3600, count: 100_000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
};

export interface WarmRunOptions {
  /** REDIS_URL, or an ioredis client to share. */
  connection: QueueConnection;
  /** DOTRANK_QUEUE_PREFIX. */
  queuePrefix: string;
  /** Passages per job (default 1000, at most 10,000). */
  chunkSize?: number;
  /** Names the run's jobs (`<runId>-<chunk>`); default a random UUID. */
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

type ChunkCounts = { done: number; encoded: number; skipped: number };

/** What the run knows of its chunk jobs, from their events and, for those that finished unseen, from Redis. */
class WarmTally {
  readonly sizes = new Map<string, number>();
  readonly jobIds: string[] = [];
  total = 0;
  private readonly progress = new Map<string, ChunkCounts>();
  private readonly finished = new Map<string, 'completed' | 'failed'>();
  private listeners: (() => void)[] = [];

  constructor(
    private readonly queue: Queue<WarmJob, WarmJobResult>,
    events: QueueEvents,
  ) {
    events.on('progress', ({ jobId, data }) => {
      if (!this.sizes.has(jobId) || typeof data !== 'object' || data === null) return;
      const d = data as Partial<WarmJobProgress>;
      this.progress.set(jobId, { done: d.done ?? 0, encoded: d.encoded ?? 0, skipped: d.skipped ?? 0 });
      this.notify();
    });
    events.on('completed', ({ jobId, returnvalue }) => {
      if (!this.sizes.has(jobId)) return;
      this.complete(jobId, (typeof returnvalue === 'string' ? JSON.parse(returnvalue) : returnvalue) as WarmJobResult);
      this.notify();
    });
    events.on('failed', ({ jobId }) => {
      if (!this.sizes.has(jobId)) return;
      this.finished.set(jobId, 'failed');
      this.notify();
    });
  }

  add(jobId: string, size: number): void {
    this.jobIds.push(jobId);
    this.sizes.set(jobId, size);
    this.total += size;
  }

  get allFinished(): boolean {
    return this.finished.size >= this.jobIds.length;
  }

  snapshot(): WarmProgress {
    const sum = { done: 0, encoded: 0, skipped: 0 };
    for (const p of this.progress.values()) {
      sum.done += p.done;
      sum.encoded += p.encoded;
      sum.skipped += p.skipped;
    }
    const failedChunks = [...this.finished.values()].filter((s) => s === 'failed').length;
    return { ...sum, total: this.total, failedChunks, finishedChunks: this.finished.size, chunks: this.jobIds.length };
  }

  /** Catches chunks that finished before we listened (e.g. very fast workers). */
  async refreshFromRedis(): Promise<void> {
    for (const jobId of this.jobIds) {
      if (this.finished.has(jobId)) continue;
      const job = await this.queue.getJob(jobId);
      const state = await job?.getState();
      if (state === 'completed') this.complete(jobId, job!.returnvalue);
      else if (state === 'failed') this.finished.set(jobId, 'failed');
    }
  }

  /** Resolves once every chunk has finished, reporting progress on each change (and polling Redis every 5 s). */
  async untilFinished(onProgress?: (p: WarmProgress) => void): Promise<void> {
    await this.refreshFromRedis();
    if (this.allFinished) return;
    await new Promise<void>((resolve) => {
      const poll = setInterval(
        () =>
          void this.refreshFromRedis()
            .then(check)
            .catch(() => undefined),
        5_000,
      );
      const check = () => {
        onProgress?.(this.snapshot());
        if (!this.allFinished) return;
        clearInterval(poll);
        this.listeners = this.listeners.filter((l) => l !== check);
        resolve();
      };
      this.listeners.push(check);
      check();
    });
  }

  private complete(jobId: string, result: WarmJobResult | undefined): void {
    this.progress.set(jobId, {
      done: this.sizes.get(jobId)!,
      encoded: result?.encoded ?? 0,
      skipped: result?.skipped ?? 0,
    });
    this.finished.set(jobId, 'completed');
  }

  private notify(): void {
    this.listeners.forEach((l) => l());
  }
}

/** Adds the passages as chunk jobs while they stream in (a whole corpus never sits in memory). */
async function addChunks(
  passages: Iterable<Passage> | AsyncIterable<Passage>,
  queue: Queue<WarmJob, WarmJobResult>,
  tally: WarmTally,
  run: { runId: string; chunkSize: number },
): Promise<void> {
  let chunk: WarmJob['passages'] = [];
  let pending: { name: string; data: WarmJob; opts: JobsOptions }[] = [];
  const flushJobs = async () => {
    if (pending.length > 0) await queue.addBulk(pending);
    pending = [];
  };
  const closeChunk = async () => {
    if (chunk.length === 0) return;
    const count = tally.jobIds.length;
    const jobId = `${run.runId}-${count}`;
    tally.add(jobId, chunk.length);
    pending.push({
      name: WARM_JOB,
      data: { passages: chunk, chunk: count, runId: run.runId },
      opts: { ...WARM_JOB_OPTIONS, jobId },
    });
    chunk = [];
    if (pending.length >= 20) await flushJobs();
  };
  for await (const p of passages as AsyncIterable<Passage>) {
    chunk.push(p.title ? { id: p.id, text: p.text, title: p.title } : { id: p.id, text: p.text });
    if (chunk.length >= run.chunkSize) await closeChunk();
  }
  await closeChunk();
  await flushJobs();
}

/**
 * Producer for corpus warming: splits passages into chunk jobs on the warm queue (any worker takes any chunk;
 * cached passages are skipped, so re-running a warm resumes it).
 */
export async function enqueueWarm(
  passages: Iterable<Passage> | AsyncIterable<Passage>,
  options: WarmRunOptions,
): Promise<WarmRun> {
  const chunkSize = options.chunkSize ?? 1000;
  if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > 10_000)
    throw new ValidationError('chunkSize', 'must be an integer in 1..10000');
  const runId = options.runId ?? randomUUID();
  const connections = queueConnections(options.connection);
  const names = queueNames(options.queuePrefix, { cluster: isCluster(connections.command) });
  const streams = { events: { maxLen: EVENTS_MAX_LEN } };
  const queue = new Queue<WarmJob, WarmJobResult>(names.warm, {
    connection: connections.command,
    prefix: names.prefix,
    streams,
  });
  const events = new QueueEvents(names.warm, { connection: connections.blocking, prefix: names.prefix });
  queue.on('error', () => undefined);
  events.on('error', () => undefined);
  await events.waitUntilReady();
  const tally = new WarmTally(queue, events);
  await addChunks(passages, queue, tally, { runId, chunkSize });
  return {
    runId,
    jobIds: tally.jobIds,
    total: tally.total,
    async wait(onProgress) {
      await tally.untilFinished(onProgress);
      const final = tally.snapshot();
      onProgress?.(final);
      return final;
    },
    async close() {
      await Promise.allSettled([events.close(), queue.close()]);
      await closeConnections(connections);
    },
  };
}
