import { afterAll, describe, expect, it } from 'vitest';
import { redisUrlForTests, uniquePrefix } from '@dotrank/core/testing';
import { MemoryVectorStore } from '@dotrank/vector-cache';
import { InProcessReranker } from '../src/in-process.js';
import { QueueReranker } from '../src/producer.js';
import { startRerankWorker } from '../src/processor.js';
import { degradationFor } from '../src/outcome.js';
import { LoadShedder, OverloadedError } from '../src/shedding.js';
import { FakeEncoder } from './fake-encoder.js';
import { deleteKeys, makeCandidates } from './queue-helpers.js';

/** A model that takes `ms` per query and runs one call at a time, like one ONNX session. */
class SlowSerialEncoder extends FakeEncoder {
  private chain: Promise<unknown> = Promise.resolve();
  constructor(private readonly ms: number) {
    super(16);
  }
  override encodeQueries(texts: readonly string[]): Promise<Float32Array[]> {
    const run = this.chain.then(async () => {
      await new Promise((r) => setTimeout(r, this.ms));
      return super.encodeQueries(texts);
    });
    this.chain = run.catch(() => undefined);
    return run;
  }
}

const prefixes: string[] = [];
afterAll(async () => {
  for (const p of prefixes) await deleteKeys(p);
});

describe('LoadShedder', () => {
  it('refuses once reranks ahead x the time between busy completions exceeds the deadline', () => {
    let t = 0;
    const shedder = new LoadShedder(() => t);
    const done = Array.from({ length: 20 }, () => shedder.admit(100));
    // no measurement yet: everything is admitted
    expect(shedder.active).toBe(20);
    for (let i = 0; i < 5; i++) {
      t += 10;
      done[i]!(true);
    }
    expect(shedder.intervalMs).toBe(10);
    // (15 ahead + itself) x 10 ms = 160 ms > 100 ms
    expect(shedder.expectedWaitMs()).toBe(160);
    expect(() => shedder.admit(100)).toThrow(OverloadedError);
    expect(() => shedder.admit(200)).not.toThrow(); // 160 ms fits in 200 ms (and is now under way: 16 ahead)
    expect(() => shedder.admit(undefined)).not.toThrow(); // no deadline: never refused
    expect(shedder.active).toBe(17);
    // a caller that stopped waiting counts down without feeding the estimate; calling twice counts once
    done[5]!(false);
    done[5]!(false);
    expect(shedder.active).toBe(16);
    expect(shedder.intervalMs).toBe(10);
  });

  it('does not count an idle spell as service time', () => {
    let t = 0;
    const shedder = new LoadShedder(() => t);
    for (let i = 0; i < 10; i++) {
      const done = shedder.admit(50);
      t += 1000; // one at a time, a second apart: never busy at a completion
      done(true);
    }
    expect(shedder.intervalMs).toBeUndefined();
    expect(shedder.expectedWaitMs()).toBe(0);
  });
});

describe('fast load shedding', () => {
  it('in process: a rerank that would wait past its deadline is refused at once as overloaded', async () => {
    const encoder = new SlowSerialEncoder(30);
    const reranker = new InProcessReranker({ encoder, store: new MemoryVectorStore({ dimension: 16 }) });
    const request = (i: number) => ({ query: `q${i}`, candidates: makeCandidates(5, i), fusion: 'tasb' as const });
    // a first wave fills the queue (40 x 30 ms = 1.2 s of work for a 600 ms deadline) and gives the estimate
    const wave = Array.from({ length: 40 }, (_, i) => reranker.rerank(request(i), { deadlineMs: 600 }).catch((e) => e));
    await new Promise((r) => setTimeout(r, 250));
    const started = performance.now();
    const late = await reranker.rerank(request(99), { deadlineMs: 600 }).catch((e: unknown) => e);
    const waited = performance.now() - started;
    expect(late).toBeInstanceOf(OverloadedError);
    expect(degradationFor(late).reason).toBe('overloaded');
    // refused without waiting for the deadline
    expect(waited).toBeLessThan(300);
    const outcomes = await Promise.all(wave);
    expect(outcomes.filter((o) => !(o instanceof Error)).length).toBeGreaterThan(5);
    // fusion bm25 runs no model and is never refused
    await expect(reranker.rerank({ ...request(100), fusion: 'bm25' }, { deadlineMs: 600 })).resolves.toMatchObject({
      fusion: 'bm25',
    });
  });

  it('queue: with a slow worker, the producer refuses at once once the wait it measures exceeds the deadline', async () => {
    const prefix = uniquePrefix('rerank-shed');
    prefixes.push(prefix);
    const encoder = new SlowSerialEncoder(40);
    const worker = await startRerankWorker({
      connection: redisUrlForTests(),
      queuePrefix: prefix,
      encoder,
      store: new MemoryVectorStore({ dimension: 16 }),
      concurrency: 4,
      warm: false,
    });
    const producer = new QueueReranker({ connection: redisUrlForTests(), queuePrefix: prefix, deadlineMs: 1500 });
    try {
      await producer.ready();
      const request = (i: number) => ({ query: `q${i}`, candidates: makeCandidates(5, i), fusion: 'tasb' as const });
      // 60 x 40 ms of model time behind one serial model: the later ones cannot finish within 1.5 s
      const wave = Array.from({ length: 60 }, (_, i) => producer.rerank(request(i)).catch((e: unknown) => e));
      // wait until a few jobs came back: the producer has its measure
      for (let i = 0; i < 100 && (producer.shedder.intervalMs ?? 0) === 0; i++)
        await new Promise((r) => setTimeout(r, 20));
      expect(producer.shedder.intervalMs).toBeGreaterThan(0);
      const started = performance.now();
      const late = await producer.rerank(request(99)).catch((e: unknown) => e);
      expect(late).toBeInstanceOf(OverloadedError);
      expect(degradationFor(late).reason).toBe('overloaded');
      expect(performance.now() - started).toBeLessThan(400);
      await Promise.all(wave);
      // drained: admitted again
      await expect(producer.rerank(request(100))).resolves.toMatchObject({ fusion: 'tasb' });
    } finally {
      await producer.close();
      await worker.close();
    }
  }, 60_000);
});
