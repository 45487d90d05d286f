// Fault injection (#18): a worker killed (SIGKILL) mid-job, a worker frozen (SIGSTOP) past its lock duration and
// then resumed (SIGCONT), and SIGTERM while a job runs. Each job must complete exactly once, with the right result.
// Real API and worker processes on Cranfield (300 cold candidates: a job long enough to be caught running).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Candidate } from '@dotrank/core';
import { tinyModelDir } from '@dotrank/core/testing';
import { loadEncoder, type Encoder } from '@dotrank/encoder';
import { InProcessReranker } from '@dotrank/rerank-core';
import { MemoryVectorStore } from '@dotrank/vector-cache';
import type { Redis } from 'ioredis';
import {
  API_EXIT_MS,
  WORKER_EXIT_MS,
  cranfield,
  exitWithin,
  jobEvents,
  keysUnder,
  queueKey,
  search,
  startFaultStack,
  waitFor,
  type Answer,
  type FaultStack,
} from './stack.js';

/**
 * Short locks, so that a frozen worker loses its job within seconds, and small encoder batches, so that a cold job
 * runs long enough to be caught running on a fast machine too (flags of `dotrank worker`).
 */
const LOCK_FLAGS = ['--lock-duration', '1000', '--stalled-interval', '1000', '--batch-size', '4'];
const CANDIDATES = 300;

let stack: FaultStack;
let client: Redis;
let encoder: Encoder;
let queries: string[];

beforeAll(async () => {
  const collection = await cranfield();
  queries = collection.queries;
  [stack, encoder] = await Promise.all([
    // the API waits as long as the takeover needs: every answer below must be a reranked one
    startFaultStack({
      passages: collection.passages,
      apiEnv: { DOTRANK_RERANK_DEADLINE_MS: '60000' },
      workerArgs: LOCK_FLAGS,
    }),
    loadEncoder(tinyModelDir(), { intraOpThreads: 1 }),
  ]);
  client = stack.client();
});
afterAll(async () => {
  await stack?.close();
  await encoder?.close();
});

/** The right answer: the API's own first-stage candidates reranked in this process (in-memory cache). */
async function expectedIds(query: string): Promise<string[]> {
  const res = await fetch(
    `${stack.api.url}/search?${new URLSearchParams({ q: query, fusion: 'bm25', k: String(CANDIDATES), candidates: String(CANDIDATES) })}`,
  );
  const body = (await res.json()) as { results: { id: string; text: string; score: number }[] };
  const candidates: Candidate[] = body.results.map((r) => ({ id: r.id, text: r.text, score: r.score }));
  const reranker = new InProcessReranker({ encoder, store: new MemoryVectorStore() });
  const result = await reranker.rerank({ query, candidates, fusion: 'tasb', k: 10 });
  return result.results.map((r) => r.id);
}

/**
 * Starts a cold search of CANDIDATES candidates and resolves once a worker holds its job (the answer comes later).
 * Cold: the stack's passage vectors are dropped first (its own redis-server), since the queries' candidates overlap
 * and a job whose vectors an earlier test cached ends before a fault can reach it.
 */
async function searchUntilActive(query: string): Promise<{ answer: Promise<Answer> }> {
  const vectors = (await keysUnder(client, stack.prefix)).filter((key) => key.includes(':vec:'));
  if (vectors.length > 0) await client.del(...vectors);
  const answer = search(stack.api.url, query, { k: 10, candidates: CANDIDATES }, 90_000);
  await waitFor(async () => (await client.llen(queueKey(stack.prefix, 'active'))) === 1, 30_000, 'the job to run');
  // wrapped: an async function returning the promise itself would resolve to the answer, so the fault would only
  // reach the worker after the job had completed
  return { answer };
}

/** Completed events per job id: each job must complete once. */
async function expectEachCompletedOnce(): Promise<void> {
  const { completed, failed } = await jobEvents(client, stack.prefix);
  expect(new Set(completed).size, `completed: ${completed.join(', ')}`).toBe(completed.length);
  expect(failed).toEqual([]);
}

describe('worker faults while a job runs', () => {
  it('kill -9 of the worker mid-job: another worker takes the job over and it completes once, right', async () => {
    const query = queries[0]!;
    const expected = expectedIds(query);
    const [killed] = stack.workers;
    const { answer: pending } = await searchUntilActive(query);
    const takeover = stack.addWorker();
    killed!.child.kill('SIGKILL');
    const successor = await takeover;
    const answer = await pending;
    expect(answer).toMatchObject({ status: 200, degraded: false });
    expect(answer.ids).toEqual(await expected);
    expect(killed!.child.signalCode).toBe('SIGKILL');
    // the premise: the job was taken over after its lock expired, not merely run after the kill
    expect((await jobEvents(client, stack.prefix)).stalled, successor.output()).toHaveLength(1);
    await expectEachCompletedOnce();
  }, 90_000);

  it('SIGSTOP past the lock duration, then SIGCONT: the job completes once, right; the frozen worker goes on', async () => {
    const query = queries[1]!;
    const expected = expectedIds(query);
    const frozen = stack.workers.at(-1)!;
    const { answer: pending } = await searchUntilActive(query);
    frozen.child.kill('SIGSTOP');
    try {
      const successor = await stack.addWorker();
      const answer = await pending;
      expect(answer).toMatchObject({ status: 200, degraded: false });
      expect(answer.ids).toEqual(await expected);
      expect((await jobEvents(client, stack.prefix)).stalled, successor.output()).toHaveLength(2);
    } finally {
      frozen.child.kill('SIGCONT');
    }
    // the resumed worker finishes its stale copy of the job; it must not complete it a second time
    await new Promise((r) => setTimeout(r, 3000));
    await expectEachCompletedOnce();
    expect(frozen.child.exitCode).toBe(null);
    const again = await search(stack.api.url, queries[2]!);
    expect(again).toMatchObject({ status: 200, degraded: false });
  }, 90_000);

  it('SIGTERM of the workers and the API while a job runs: the job is answered, every process exits in bound', async () => {
    const query = queries[3]!;
    const expected = expectedIds(query);
    const { answer: pending } = await searchUntilActive(query);
    const alive = stack.workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null);
    for (const w of alive) w.child.kill('SIGTERM');
    const answer = await pending;
    expect(answer).toMatchObject({ status: 200, degraded: false });
    expect(answer.ids).toEqual(await expected);
    stack.api.child.kill('SIGTERM');
    const exits = await Promise.all([
      exitWithin(stack.api, API_EXIT_MS),
      ...alive.map((w) => exitWithin(w, WORKER_EXIT_MS)),
    ]);
    expect(exits).toEqual(exits.map(() => 0));
    await expectEachCompletedOnce();
  }, 90_000);
});
