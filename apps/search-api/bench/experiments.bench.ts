// Online experiments (#19), two figures, each beside its baseline from the same run:
//  1. what interleaving adds to GET /search: p50 of experiment=interleave against experiment=off, requests alternated
//     (embedded BM25 over Cranfield, tiny TAS-B fixture in process with warm vectors, 30 candidates, k = 10), with the
//     impressions logged to Redis Streams (goal: at most +0.5 ms);
//  2. event intake: POST /api/events into Redis Streams, single events with 32 in flight, and batches of 50 (goal:
//     at least 5,000 events/s on one core, p99 under 5 ms per request), beside a bare XADD pipeline of the same events.
// Requests go through Fastify's inject (no sockets), so the figures are the server's own work on this one core.
// Run: npm run bench:experiments -w apps/search-api   (needs Redis at REDIS_URL, default 127.0.0.1:6379;
//      BENCH_STORE=memory keeps impressions and events in memory; BENCH_SEARCHES, BENCH_EVENTS set the sizes)
import { Redis } from 'ioredis';
import { mulberry32 } from '@dotrank/core';
import { deleteKeysWithPrefix, redisUrlForTests, repoPath, tinyModelDir, uniquePrefix } from '@dotrank/core/testing';
import { createEmbeddedSource } from '@dotrank/bm25';
import { readCorpus, readQueries } from '@dotrank/datasets';
import { loadEncoder } from '@dotrank/encoder';
import { InProcessReranker } from '@dotrank/rerank-core';
import { MemoryVectorStore } from '@dotrank/vector-cache';
import { buildServer } from '../src/index.js';

const SEARCHES = Number(process.env['BENCH_SEARCHES'] ?? 2000);
const EVENTS = Number(process.env['BENCH_EVENTS'] ?? 40_000);
const IN_FLIGHT = 32;
const BATCH = 50;

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

async function main(): Promise<void> {
  const redisUrl = redisUrlForTests();
  const keyPrefix = uniquePrefix('bench-experiments');
  const redis = new Redis(redisUrl);
  const collection = repoPath('datasets/cranfield');
  const source = await createEmbeddedSource();
  await source.index(readCorpus(collection));
  const queries = (await readQueries(collection)).map((q) => q.text);
  const encoder = await loadEncoder(tinyModelDir());
  const reranker = new InProcessReranker({ encoder, store: new MemoryVectorStore() });
  const app = await buildServer(
    { source, reranker, mode: 'in-process' },
    {
      logger: false,
      deadlineMs: 10_000,
      experiments: {
        name: 'bench',
        mode: 'off',
        traffic: 1,
        maxEvents: 1_000_000,
        retentionDays: 1,
        redisUrl,
        keyPrefix,
      },
    },
  );
  try {
    // warm: every query once through the rerank (passage vectors cached), both paths
    const url = (q: string, mode: string) => `/search?q=${encodeURIComponent(q)}&k=10&candidates=30&experiment=${mode}`;
    for (const q of queries) await app.inject(url(q, 'off'));
    for (const q of queries.slice(0, 50)) await app.inject(url(q, 'interleave'));
    const times: Record<string, number[]> = { off: [], interleave: [] };
    const random = mulberry32(19);
    const impressionIds: string[] = [];
    for (let i = 0; i < SEARCHES; i++) {
      const q = queries[Math.floor(random() * queries.length)]!;
      for (const mode of i % 2 ? ['off', 'interleave'] : ['interleave', 'off']) {
        const started = performance.now();
        const res = await app.inject(url(q, mode));
        times[mode]!.push(performance.now() - started);
        if (mode === 'interleave') impressionIds.push((res.json() as { impressionId: string }).impressionId);
      }
    }
    await app.experiments.settled();
    const off = quantile(times['off']!, 0.5);
    const on = quantile(times['interleave']!, 0.5);
    console.log(
      `/search p50, ${SEARCHES} requests each, alternated: off ${off.toFixed(3)} ms, interleave ${on.toFixed(3)} ms ` +
        `(+${(on - off).toFixed(3)} ms, ${(on / off).toFixed(3)}x; goal <= +0.5 ms); p99 off ${quantile(times['off']!, 0.99).toFixed(3)} ms, interleave ${quantile(times['interleave']!, 0.99).toFixed(3)} ms`,
    );

    // events: one click on the first result of a logged impression each, distinct event ids
    const impressions = await app.experiments.store.getImpressions(impressionIds);
    const event = (i: number) => {
      const impression = impressions.get(impressionIds[i % impressionIds.length]!)!;
      return {
        impressionId: impression.impressionId,
        type: 'click',
        docId: impression.shown[0]!.docId,
        eventId: `e${i}`,
      };
    };
    const intake = async (label: string, batch: number) => {
      const latencies: number[] = [];
      let next = 0;
      const cpu = process.cpuUsage();
      const started = performance.now();
      const worker = async () => {
        while (next < EVENTS) {
          const from = next;
          next += batch;
          const payload = batch === 1 ? event(from) : Array.from({ length: batch }, (_, j) => event(from + j));
          const t = performance.now();
          const res = await app.inject({ method: 'POST', url: '/api/events', payload });
          latencies.push(performance.now() - t);
          if (res.statusCode !== 200) throw new Error(`POST /api/events: ${res.statusCode} ${res.body}`);
        }
      };
      await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
      const seconds = (performance.now() - started) / 1000;
      const used = process.cpuUsage(cpu);
      console.log(
        `${label}: ${Math.round(EVENTS / seconds).toLocaleString('en-US')} events/s (${(EVENTS / seconds / 5000).toFixed(2)}x the 5,000 goal), ` +
          `p50 ${quantile(latencies, 0.5).toFixed(3)} ms, p99 ${quantile(latencies, 0.99).toFixed(3)} ms per request; ` +
          `CPU ${(((used.user + used.system) / 1e6 / seconds) * 100).toFixed(0)} % of one core`,
      );
      return EVENTS / seconds;
    };
    const single = await intake('events, one per POST, 32 in flight', 1);
    await deleteKeysWithPrefix(redis, `${keyPrefix}:exp:{bench}:event:`);
    const batched = await intake(`events, ${BATCH} per POST, 32 in flight`, BATCH);
    // the floor: the same events appended with a bare XADD pipeline (no HTTP, no validation, no idempotence)
    const stream = `${keyPrefix}:bare`;
    const started = performance.now();
    for (let i = 0; i < EVENTS; i += 1000) {
      const pipeline = redis.pipeline();
      for (let j = i; j < i + 1000; j++) pipeline.xadd(stream, '*', 'j', JSON.stringify(event(j)));
      await pipeline.exec();
    }
    const bare = EVENTS / ((performance.now() - started) / 1000);
    console.log(
      `bare XADD pipeline: ${Math.round(bare).toLocaleString('en-US')} events/s; intake = ${(single / bare).toFixed(2)}x (single) and ${(batched / bare).toFixed(2)}x (batched) of it`,
    );
  } finally {
    await app.close();
    await deleteKeysWithPrefix(redis, keyPrefix);
    redis.disconnect();
  }
}

await main();
