// Online experiments (#19), two figures, each beside its baseline from the same run:
//  1. what interleaving adds to GET /search: p50 of experiment=interleave against experiment=off, requests alternated
//     (embedded BM25 over Cranfield, tiny TAS-B fixture in process with warm vectors, 30 candidates, k = 10), with the
//     impressions logged to Redis Streams (goal: at most +0.5 ms); through Fastify's inject, in this process;
//  2. event intake: POST /api/events into Redis Streams, on the impressions of part 1, against a server process of its
//     own pinned to one core, with the load client on the other (see intake.ts): events/s and p99 per request for 1, 10
//     and 50 events per POST, at the peak and at the goal's 5,000 events/s, beside a bare XADD pipeline of the same
//     events from the same process (goal: at least 5,000 events/s on one core, p99 under 5 ms).
// Run: npm run bench:experiments -w apps/search-api   (needs Redis at REDIS_URL, default 127.0.0.1:6379;
//      BENCH_SEARCHES, BENCH_EVENTS set the sizes, BENCH_CONNECTIONS the intake's peak concurrency (16),
//      BENCH_CPU_PROF=<dir> profiles the intake server)
import { Redis } from 'ioredis';
import { mulberry32 } from '@dotrank/core';
import { deleteKeysWithPrefix, redisUrlForTests, repoPath, tinyModelDir, uniquePrefix } from '@dotrank/core/testing';
import { createEmbeddedSource } from '@dotrank/bm25';
import { readCorpus, readQueries } from '@dotrank/datasets';
import { loadEncoder } from '@dotrank/encoder';
import { InProcessReranker } from '@dotrank/rerank-core';
import { MemoryVectorStore } from '@dotrank/vector-cache';
import { buildServer } from '../src/index.js';
import { benchExperiments } from './experiment-settings.js';
import { intakeBenchmark } from './intake.js';

const SEARCHES = Number(process.env['BENCH_SEARCHES'] ?? 2000);

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
      experiments: benchExperiments(redisUrl, keyPrefix),
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

    // events: one click on the first result of a logged impression each, posted to a server of its own (below)
    const impressions = await app.experiments.store.getImpressions(impressionIds);
    const targets = impressionIds.map((id) => [id, impressions.get(id)!.shown[0]!.docId] as [string, string]);
    await intakeBenchmark(redisUrl, keyPrefix, targets);
  } finally {
    await app.close();
    await deleteKeysWithPrefix(redis, keyPrefix);
    redis.disconnect();
  }
}

await main();
