// The API process of the event-intake benchmark, started by experiments.bench.ts pinned to one core (taskset -c 0):
// the real server (buildServer, experiments in Redis Streams under BENCH_KEY_PREFIX, experiment `bench`) listening on
// a free port, plus two routes of the benchmark's own: GET /bench/cpu (this process's CPU time and the Redis server's, to report
// CPU per event) and POST /bench/bare (the baseline: the same events appended with a bare XADD pipeline
// from this process, on this core). Prints {"url": ...} once listening. No search work: a fake source, never queried.
import { PerformanceObserver, monitorEventLoopDelay } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { buildServer } from '../src/index.js';
import { benchExperiments } from './experiment-settings.js';
import { FakeReranker, FakeSource } from '../test/fakes.js';
// @ts-expect-error a plain ES module shared with the load client
import { intakeEvent } from './intake-events.mjs';

const redisUrl = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const keyPrefix = process.env['BENCH_KEY_PREFIX'];
if (!keyPrefix)
  throw new Error('BENCH_KEY_PREFIX: required (the key prefix the benchmark logged its impressions under)');
const makeEvent = intakeEvent as (targets: [string, string][], i: number, run: string) => object;

const app = await buildServer(
  { source: new FakeSource(), reranker: new FakeReranker(), mode: 'in-process' },
  {
    logger: false,
    deadlineMs: 10_000,
    bodyLimit: 8 * 1024 * 1024,
    experiments: benchExperiments(redisUrl, keyPrefix),
  },
);
const redis = new Redis(redisUrl);
// server-side time of each POST /api/events (request received -> response written) and the event loop's delay, to
// tell the server's own tail from the network's and the client's; GET /bench/latency reads and resets them
const serverTimes: number[] = [];
const loopDelay = monitorEventLoopDelay({ resolution: 1 });
loopDelay.enable();
// garbage collection pauses since the last read: a pause holds every request behind it
const gcPauses: number[] = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcPauses.push(entry.duration);
}).observe({ entryTypes: ['gc'] });
// Fastify's own clock: reply.elapsedTime runs from the request's arrival in Fastify to its answer
app.addHook('onResponse', async (request, reply) => {
  if (request.url === '/api/events') serverTimes.push(reply.elapsedTime);
});
app.get('/bench/latency', async () => {
  const sorted = serverTimes.splice(0).sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  const result = {
    requests: sorted.length,
    p50: at(0.5),
    p99: at(0.99),
    max: sorted.at(-1) ?? 0,
    loopDelayP99: loopDelay.percentile(99) / 1e6,
    loopDelayMax: loopDelay.max / 1e6,
    gcPauses: gcPauses.length,
    gcMs: gcPauses.reduce((a, b) => a + b, 0),
    gcMaxMs: Math.max(0, ...gcPauses),
  };
  gcPauses.length = 0;
  loopDelay.reset();
  return result;
});
app.get('/bench/cpu', async () => {
  const info = await redis.info('cpu');
  const redisSeconds = ['used_cpu_sys', 'used_cpu_user']
    .map((field) => Number(new RegExp(`^${field}:([\\d.]+)`, 'm').exec(info)?.[1] ?? Number.NaN))
    .reduce((a, b) => a + b, 0);
  return { ...process.cpuUsage(), redisSeconds };
});
app.post<{ Body: { targets: [string, string][]; run: string; events: number } }>('/bench/bare', async (request) => {
  const { targets, run, events } = request.body;
  const stream = `${keyPrefix}:bare`;
  const started = performance.now();
  for (let i = 0; i < events; i += 1000) {
    const pipeline = redis.pipeline();
    for (let j = i; j < Math.min(events, i + 1000); j++)
      pipeline.xadd(stream, '*', 'j', JSON.stringify(makeEvent(targets, j, run)));
    await pipeline.exec();
  }
  return { eventsPerSecond: events / ((performance.now() - started) / 1000) };
});
app.addHook('onClose', async () => void redis.disconnect());
const url = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`${JSON.stringify({ url, pid: process.pid })}\n`);
const stop = () => void app.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
