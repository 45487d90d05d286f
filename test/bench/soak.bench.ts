// Soak benchmark (#18): `npm run bench -w test` (SOAK_MINUTES, default 10). Its own redis-server, the real API
// (`dotrank serve`, queue mode, embedded BM25 over Cranfield) and two worker processes (tiny fixture model). It
// measures capacity first (closed loop, reranked answers per second), then sends half of it at a fixed rate for
// SOAK_MINUTES while one of the two workers is killed (SIGKILL) and replaced every minute. It reports requests, 5xx
// (goal 0), unanswered requests, the degraded share by reason, lost jobs (goal 0), RSS of the API and of the worker
// that is never killed at the start and the end of the soak (goal: growth under 5%), and the keys left behind under
// the queue's prefix once traffic has stopped (goal 0).
import { readFileSync } from 'node:fs';
import { enqueueWarm } from '@dotrank/rerank-core';
import {
  cranfield,
  keysUnder,
  load,
  queueKey,
  search,
  startFaultStack,
  waitFor,
  type Answer,
  type FaultStack,
} from '../faults/stack.js';

const SOAK_MINUTES = Number(process.env['SOAK_MINUTES'] ?? '10');
const CAPACITY_SECONDS = Number(process.env['SOAK_CAPACITY_SECONDS'] ?? '20');
/** Requests in flight while capacity is measured: two per worker (more only queue up and miss the deadline). */
const CONCURRENCY = 4;
if (!(SOAK_MINUTES > 0) || !(CAPACITY_SECONDS > 0))
  throw new Error('SOAK_MINUTES and SOAK_CAPACITY_SECONDS must be positive numbers');

/** Resident set size of a process in bytes (Linux /proc). */
function rss(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]) * 1024;
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** Sends `rate` requests per second for `ms`, each on its own (an open loop: a slow answer does not slow the rate). */
async function openLoop(stack: FaultStack, queries: string[], rate: number, ms: number): Promise<Answer[]> {
  const answers: Promise<Answer>[] = [];
  const started = performance.now();
  for (let i = 0; ; i++) {
    const due = started + (i * 1000) / rate;
    if (due - started >= ms) break;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    answers.push(search(stack.api.url, queries[i % queries.length]!, {}, 30_000));
  }
  return Promise.all(answers);
}

/** Every minute: SIGKILL the rotating worker and start its replacement (the other worker is never killed). */
function killEveryMinute(stack: FaultStack): { kills: () => number; stop: () => Promise<void> } {
  let kills = 0;
  let rotating = 0;
  let busy: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    busy = busy.then(async () => {
      stack.workers[rotating]!.child.kill('SIGKILL');
      kills++;
      await stack.addWorker();
      rotating = stack.workers.length - 1;
    });
  }, 60_000);
  return {
    kills: () => kills,
    stop: async () => {
      clearInterval(timer);
      await busy;
    },
  };
}

/**
 * What is left of the rerank queue once traffic has stopped: keys a finished job should not leave (job records,
 * payloads), apart from BullMQ's own structure (meta, id counter, event stream, ...) and the workers' heartbeats.
 */
async function leftovers(stack: FaultStack): Promise<{ leftBehind: string[]; structure: string[] }> {
  const base = queueKey(stack.prefix, '');
  const keys = await keysUnder(stack.client(), base);
  const structural =
    /^(meta|id|events|marker|heartbeats|stalled-check|stalled|wait|active|paused|completed|failed|delayed|prioritized|pc|waiting-children|limiter|repeat|de)$/;
  const isStructure = (key: string) => structural.test(key.slice(base.length));
  return { leftBehind: keys.filter((k) => !isStructure(k)), structure: keys.filter(isStructure) };
}

function summarize(answers: Answer[]) {
  const reasons: Record<string, number> = {};
  for (const a of answers)
    if (a.status === 200 && a.degraded) reasons[a.reason ?? '?'] = (reasons[a.reason ?? '?'] ?? 0) + 1;
  return {
    requests: answers.length,
    ok: answers.filter((a) => a.status === 200).length,
    serverErrors: answers.filter((a) => a.status >= 500).length,
    unanswered: answers.filter((a) => a.status === 0).length,
    degraded: answers.filter((a) => a.status === 200 && a.degraded).length,
    reasons,
  };
}

async function main(): Promise<void> {
  const collection = await cranfield();
  const stack = await startFaultStack({
    passages: collection.passages,
    workers: 2,
    // vectors under another prefix: what is left under the queue's prefix is then only the queue's
    workerEnv: { DOTRANK_LOG_LEVEL: 'error', DOTRANK_KEY_PREFIX: `vectors-${process.pid}` },
    logLevel: 'error',
  });
  try {
    // a stopped run (Ctrl-C) still stops what it started
    for (const signal of ['SIGINT', 'SIGTERM'] as const)
      process.once(signal, () => void stack.close().finally(() => process.exit(130)));
    const queries = collection.queries;
    // the whole collection in the vector cache first, as `dotrank warm` does before traffic: the soak measures a
    // deployment in its steady state, not cold-cache misses (which mostly miss the 500 ms deadline on two cores)
    const warm = await enqueueWarm(collection.passages, {
      connection: stack.redisUrl,
      queuePrefix: stack.prefix,
      chunkSize: 200,
    });
    const warmed = await warm.wait();
    await warm.close();
    process.stderr.write(`warmed: ${JSON.stringify(warmed)}\n`);
    await waitFor(async () => !(await search(stack.api.url, queries[0]!)).degraded, 60_000, 'a reranked answer');
    // capacity: reranked answers per second with CONCURRENCY requests always in flight (a warm-up pass first)
    const warmUntil = performance.now() + 5000;
    await load(stack.api.url, queries, CONCURRENCY, () => performance.now() > warmUntil);
    const capStart = performance.now();
    const capEnd = capStart + CAPACITY_SECONDS * 1000;
    const capacityAnswers = await load(stack.api.url, queries, CONCURRENCY, () => performance.now() > capEnd);
    const capacity =
      capacityAnswers.filter((a) => a.status === 200 && !a.degraded).length / ((performance.now() - capStart) / 1000);
    const rate = Math.max(1, capacity / 2);
    process.stderr.write(
      `capacity ${capacity.toFixed(1)} reranked req/s; soaking at ${rate.toFixed(1)} req/s for ${SOAK_MINUTES} min\n`,
    );

    const [apiPid, steadyPid] = [stack.api.child.pid!, stack.workers[1]!.child.pid!];
    const rssStart = { api: rss(apiPid), worker: rss(steadyPid) };
    const killer = killEveryMinute(stack);
    const answers = await openLoop(stack, queries, rate, SOAK_MINUTES * 60_000);
    await killer.stop();
    const rssEnd = { api: rss(apiPid), worker: rss(steadyPid) };

    // drain: nothing may stay waiting or running once traffic has stopped (a stuck job is a lost one)
    const client = stack.client();
    const queued = async () => {
      const lists = ['wait', 'active'].map((name) => client.llen(queueKey(stack.prefix, name)));
      const sets = ['prioritized', 'delayed'].map((name) => client.zcard(queueKey(stack.prefix, name)));
      return (await Promise.all([...lists, ...sets])).reduce((a, b) => a + b, 0);
    };
    await waitFor(async () => (await queued()) === 0, 30_000, 'the queue to drain').catch(() => undefined); // counted below
    await new Promise((r) => setTimeout(r, 2000));
    const stuck = await queued();
    // failed jobs: those that expired (their deadline passed before a worker started them: the API had answered in
    // first-stage order already) are accounted for; any other failure is a lost job
    const failedIds = await client.zrange(queueKey(stack.prefix, 'failed'), 0, -1);
    const reasons = await Promise.all(failedIds.map((id) => client.hget(queueKey(stack.prefix, id), 'failedReason')));
    const failedJobs = reasons.filter((r) => !/deadline passed/.test(r ?? '')).length;
    const expired = reasons.length - failedJobs;
    // failed-job records are kept for inspection (DOTRANK_FAILED_JOB_TTL_SECONDS): not left behind by accident
    const kept = new Set(failedIds.map((id) => queueKey(stack.prefix, id)));
    const { leftBehind: all, structure } = await leftovers(stack);
    const leftBehind = all.filter((k) => !kept.has(k));
    const kills = killer.kills();

    const s = summarize(answers);
    const lost = s.unanswered + stuck + failedJobs;
    const growth = { api: rssEnd.api / rssStart.api - 1, worker: rssEnd.worker / rssStart.worker - 1 };
    const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
    const lines = [
      `soak: ${SOAK_MINUTES} min at ${rate.toFixed(1)} req/s = half the measured capacity (${capacity.toFixed(1)} reranked req/s, ${CONCURRENCY} connections, ${CAPACITY_SECONDS} s); a worker killed (SIGKILL) and replaced every minute (${kills} kills)`,
      `requests            ${s.requests}  (answered 200: ${s.ok})`,
      `5xx                 ${s.serverErrors}  (goal 0)`,
      `unanswered          ${s.unanswered}`,
      `degraded            ${s.degraded} = ${pct(s.degraded / Math.max(1, s.requests))}  ${JSON.stringify(s.reasons)}`,
      `lost jobs           ${lost}  (goal 0: unanswered ${s.unanswered} + stuck in the queue after drain ${stuck} + failed ${failedJobs}; expired before a worker took them, answered degraded: ${expired})`,
      `RSS API             ${mib(rssStart.api)} -> ${mib(rssEnd.api)}  (${pct(growth.api)}; goal < 5%)`,
      `RSS worker (steady) ${mib(rssStart.worker)} -> ${mib(rssEnd.worker)}  (${pct(growth.worker)}; goal < 5%)`,
      `rerank keys left    ${leftBehind.length}  (goal 0)${leftBehind.length ? ': ' + leftBehind.slice(0, 5).join(', ') : ''}; failed-job records kept for inspection: ${kept.size}; BullMQ structure keys: ${structure.length}`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
    process.stdout.write(
      JSON.stringify({
        capacity,
        rate,
        minutes: SOAK_MINUTES,
        ...s,
        lost,
        stuck,
        failedJobs,
        rssStart,
        rssEnd,
        leftBehind: leftBehind.length,
      }) + '\n',
    );
  } finally {
    await stack.close();
  }
}

await main();
