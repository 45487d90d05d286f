// Load generator, run as its own process by search.bench.ts so the server under test does not share its event loop.
// Usage: node load-client.mjs <run.json>, where run.json holds
//   { url, paths: [...] (requested in order, cycled), connections, seconds? | amount?, overallRate? (req/s offered) }
// Without overallRate: autocannon, each connection sending its next request as soon as the last one is answered (the
// most the server can take). With overallRate: an open loop of our own that sends request i at start + i / rate, evenly
// spread, over at most `connections` keep-alive sockets, and times each answer from when the request was due (time
// spent waiting for a free socket counts). autocannon's own overallRate does not spread the load: each connection
// sends its share at the start of every second, so 160 requests arrived together once a second and the server's event
// loop spent 100-150 ms on each burst (measured: the overload run's loop stalls, one a second).
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import autocannon from 'autocannon';

const run = JSON.parse(readFileSync(process.argv[2], 'utf8'));
// this process's own event-loop delay: an answer that arrives while the client is busy (or off the CPU) is timed late
// by that much, whatever the server did
const loopDelay = monitorEventLoopDelay({ resolution: 1 });
loopDelay.enable();
const result = run.overallRate ? await openLoop(run) : await closedLoop(run);
loopDelay.disable();
process.stdout.write(
  JSON.stringify({ ...result, clientLoopDelay: { p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 } }) +
    '\n',
);

/** Percentile of sorted numbers (nearest rank below). */
function pct(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** Steady-state figures: answers after the run's first second (sockets opened, both processes warm). */
function steadyOf(times) {
  const sorted = times.filter((t) => t.at > 1000).map((t) => t.ms);
  sorted.sort((a, b) => a - b);
  return { requests: sorted.length, p99: pct(sorted, 99), max: sorted.at(-1) ?? 0 };
}

async function closedLoop(run) {
  let next = 0;
  const started = performance.now();
  const times = [];
  const instance = autocannon({
    url: run.url,
    connections: run.connections,
    ...(run.amount ? { amount: run.amount } : { duration: run.seconds }),
    // a request unanswered for this long counts as a timeout (an error), never silently dropped
    timeout: 30,
    requests: [
      {
        method: 'GET',
        setupRequest: (request) => ({ ...request, path: run.paths[next++ % run.paths.length] }),
      },
    ],
  });
  instance.on('response', (_client, _status, _bytes, responseTime) =>
    times.push({ at: performance.now() - started, ms: responseTime }),
  );
  const result = await instance;
  return {
    requests: result.requests.total,
    seconds: result.duration,
    rps: result.requests.total / result.duration,
    p50: result.latency.p50,
    p90: result.latency.p90,
    p99: result.latency.p99,
    max: result.latency.max,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    steady: steadyOf(times),
  };
}

async function openLoop(run) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: run.connections });
  const total = run.amount ?? Math.round(run.overallRate * run.seconds);
  const interval = 1000 / run.overallRate;
  const times = [];
  let non2xx = 0;
  let errors = 0;
  let timeouts = 0;
  const send = (i, start) =>
    new Promise((resolve) => {
      const due = start + i * interval;
      const request = http.get(`${run.url}${run.paths[i % run.paths.length]}`, { agent }, (response) => {
        response.resume();
        response.on('end', () => {
          times.push({ at: due - start, ms: performance.now() - due });
          if (response.statusCode < 200 || response.statusCode > 299) non2xx++;
          resolve();
        });
      });
      // a request unanswered for this long counts as a timeout, never silently dropped
      request.setTimeout(30_000, () => {
        timeouts++;
        request.destroy();
      });
      request.on('error', () => {
        errors++;
        resolve();
      });
    });
  const start = performance.now() + 20;
  const pending = [];
  for (let i = 0; i < total; i++) {
    const wait = start + i * interval - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    pending.push(send(i, start));
  }
  await Promise.all(pending);
  const seconds = (performance.now() - start) / 1000;
  agent.destroy();
  const sorted = times.map((t) => t.ms).sort((a, b) => a - b);
  return {
    requests: times.length,
    seconds,
    rps: times.length / seconds,
    p50: pct(sorted, 50),
    p90: pct(sorted, 90),
    p99: pct(sorted, 99),
    max: sorted.at(-1) ?? 0,
    non2xx,
    errors,
    timeouts,
    steady: steadyOf(times),
  };
}
