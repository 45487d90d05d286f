// Fault injection (#18): Redis killed under load and brought back at the same address, then Redis hanging
// (SIGSTOP), then SIGTERM of the API and the worker while it hangs. Real processes, this file's own redis-server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTRACT_PASSAGES } from '@dotrank/core/testing';
import {
  API_EXIT_MS,
  WORKER_EXIT_MS,
  exitWithin,
  keysUnder,
  load,
  queueKey,
  search,
  startFaultStack,
  waitFor,
  type Answer,
  type FaultStack,
} from './stack.js';

// each matches some of CONTRACT_PASSAGES (no candidates would mean nothing to rerank, hence never degraded)
const QUERIES = ['boundary layer', 'shock wave', 'heat transfer', 'vibration of wings'];

let stack: FaultStack;
/** The reranked order of each query, read before any fault: every later reranked answer must equal it. */
const expected = new Map<string, string[]>();

beforeAll(async () => {
  stack = await startFaultStack({ passages: CONTRACT_PASSAGES });
  for (const query of QUERIES) {
    let answer: Answer | undefined;
    await waitFor(
      async () => !(answer = await search(stack.api.url, query)).degraded,
      30_000,
      `a reranked answer to "${query}" (worker heartbeat seen)`,
    );
    expected.set(query, answer!.ids);
  }
});
afterAll(async () => {
  await stack?.close();
});

/** /metrics as text, failing when it does not answer within `ms`. */
async function metricsWithin(ms: number): Promise<string> {
  const res = await fetch(`${stack.api.url}/metrics`, { signal: AbortSignal.timeout(ms) });
  expect(res.status).toBe(200);
  return res.text();
}

function expectRightOrDegraded(answers: Answer[]): void {
  for (const a of answers) {
    expect(a.status, `${a.query}: ${JSON.stringify(a)}`).toBe(200);
    if (!a.degraded) expect(a.ids, a.query).toEqual(expected.get(a.query));
  }
}

describe('Redis killed under load, then started again at the same address', () => {
  it('answers every request (degraded while Redis is gone), says so on /readyz and /metrics, and recovers', async () => {
    let phase: 'before' | 'outage' | 'after' | 'stop' = 'before';
    const byPhase: Record<string, Answer[]> = { before: [], outage: [], after: [] };
    const running = load(stack.api.url, QUERIES, 4, () => phase === 'stop');
    const record = async (name: 'before' | 'outage' | 'after', ms: number) => {
      const started = Date.now();
      while (Date.now() - started < ms) {
        byPhase[name]!.push(await search(stack.api.url, QUERIES[byPhase[name]!.length % QUERIES.length]!));
      }
    };
    await record('before', 1000);
    phase = 'outage';
    await stack.redis.stop();
    await record('outage', 1500);
    const ready = await fetch(`${stack.api.url}/readyz`, { signal: AbortSignal.timeout(3000) });
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { failing: string[] }).failing).toContain('redis');
    expect(await metricsWithin(1000)).toMatch(/^dotrank_redis_up 0$/m);

    await stack.restartRedis();
    phase = 'after';
    // the worker reconnects and beats again; the API's connections come back: reranked answers again
    await waitFor(async () => !(await search(stack.api.url, QUERIES[0]!)).degraded, 30_000, 'a reranked answer');
    await record('after', 1000);
    phase = 'stop';
    const background = await running;

    const all = [...byPhase.before!, ...byPhase.outage!, ...byPhase.after!, ...background];
    expectRightOrDegraded(all);
    expect(byPhase.outage!.every((a) => a.degraded)).toBe(true);
    expect(byPhase.after!.some((a) => !a.degraded)).toBe(true);
    expect(await metricsWithin(1000)).toMatch(/^dotrank_redis_up 1$/m);
    const ready2 = await fetch(`${stack.api.url}/readyz`);
    expect(ready2.status).toBe(200);
    // nothing waits in the queue and no candidate payload is left behind once the answers are in
    const client = stack.client();
    await waitFor(
      async () => (await keysUnder(client, queueKey(stack.prefix, 'payload'))).length === 0,
      10_000,
      'payload keys to be deleted',
    );
    expect(await client.llen(queueKey(stack.prefix, 'wait'))).toBe(0);
    expect(await client.llen(queueKey(stack.prefix, 'active'))).toBe(0);
  }, 90_000);
});

describe('Redis hanging (SIGSTOP: connections open, no answers)', () => {
  it('degrades every /search with reason timeout (the deadline), not queue_unavailable', async () => {
    stack.redis.pause();
    try {
      // spread over more than the producer's 1 s worker-count bound, so that bound runs out inside a request
      const answers = await Promise.all(
        Array.from({ length: 8 }, async (_, i) => {
          await new Promise((r) => setTimeout(r, i * 150));
          return search(stack.api.url, QUERIES[i % QUERIES.length]!);
        }),
      );
      for (const a of answers) expect(a, JSON.stringify(a)).toMatchObject({ status: 200, degraded: true });
      // the deadline (or, once reranks pile up behind the hung Redis, load shedding), never "queue unavailable":
      // the connections are open, Redis is merely slow
      const reasons = answers.map((a) => a.reason);
      expect(
        reasons.every((r) => r === 'timeout' || r === 'overloaded'),
        reasons.join(', '),
      ).toBe(true);
      expect(reasons).toContain('timeout');
      // a hung Redis is waited for up to its 1 s bound, then reported down
      expect(await metricsWithin(2000)).toMatch(/^dotrank_redis_up 0$/m);
    } finally {
      stack.redis.resume();
    }
  }, 60_000);

  it('SIGTERM under load while Redis hangs: the API and the worker exit within their bound', async () => {
    stack.redis.pause();
    let stop = false;
    const running = load(stack.api.url, QUERIES, 4, () => stop);
    await new Promise((r) => setTimeout(r, 300));
    const [api, worker] = [stack.api, stack.workers[0]!];
    api.child.kill('SIGTERM');
    worker.child.kill('SIGTERM');
    const [apiExit, workerExit] = await Promise.all([exitWithin(api, API_EXIT_MS), exitWithin(worker, WORKER_EXIT_MS)]);
    stop = true;
    const answers = await running;
    expect(apiExit, api.output()).not.toBe('still running');
    expect(workerExit, worker.output()).not.toBe('still running');
    expect(api.output()).toMatch(/SIGTERM received, shutting down/);
    // answered before the API went away: degraded (Redis hangs), or 503 once it is closing; never a 500
    for (const a of answers.filter((x) => x.status !== 0)) expect([200, 503]).toContain(a.status);
    expect(answers.filter((a) => a.status === 200).every((a) => a.degraded)).toBe(true);
    stack.redis.resume();
  }, 60_000);
});
