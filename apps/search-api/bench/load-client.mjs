// Load generator, run as its own process by search.bench.ts so the server under test does not share its event loop.
// Usage: node load-client.mjs <run.json>, where run.json holds
//   { url, paths: [...] (requested in order, cycled), connections, seconds? | amount?, overallRate? (req/s offered) }
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

const run = JSON.parse(readFileSync(process.argv[2], 'utf8'));
let next = 0;
const started = performance.now();
// each answer's time, by when it came: the first second (connections opening at once, both processes warming up)
// is reported apart from the steady state
const steady = [];
const instance = autocannon({
  url: run.url,
  connections: run.connections,
  ...(run.amount ? { amount: run.amount } : { duration: run.seconds }),
  ...(run.overallRate ? { overallRate: run.overallRate } : {}),
  // a request unanswered for this long counts as a timeout (an error), never silently dropped
  timeout: 30,
  requests: [
    {
      method: 'GET',
      setupRequest: (request) => ({ ...request, path: run.paths[next++ % run.paths.length] }),
    },
  ],
});
instance.on('response', (_client, _status, _bytes, responseTime) => {
  if (performance.now() - started > 1000) steady.push(responseTime);
});
const result = await instance;
steady.sort((a, b) => a - b);
process.stdout.write(
  JSON.stringify({
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
    steady: {
      requests: steady.length,
      p99: steady[Math.floor(steady.length * 0.99)] ?? 0,
      max: steady.at(-1) ?? 0,
    },
  }) + '\n',
);
