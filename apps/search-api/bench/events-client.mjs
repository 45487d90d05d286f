// Load client of the event-intake benchmark, run as its own process (pinned to another core than the server) by
// experiments.bench.ts. Usage: node events-client.mjs <run.json>, where run.json holds
//   { url, targets: [[impressionId, docId], ...], run (event-id prefix), events, batch, connections,
//     rate? (requests/s offered: open loop; absent = closed loop, each connection sends its next request on answer) }
// Prints one JSON line: events/s and per-request latency. Open loop latency counts from the moment a request was due,
// so a server that falls behind shows it in its p99 (no coordinated omission). Times in ms with microseconds.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { intakeEvent } from './intake-events.mjs';

const run = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const target = new URL('/api/events', run.url);
const agent = new http.Agent({ keepAlive: true, maxSockets: run.connections });
const requests = Math.ceil(run.events / run.batch);

function body(k) {
  const from = k * run.batch;
  const n = Math.min(run.batch, run.events - from);
  if (run.batch === 1) return JSON.stringify(intakeEvent(run.targets, from, run.run));
  return JSON.stringify(Array.from({ length: n }, (_, j) => intakeEvent(run.targets, from + j, run.run)));
}

const latencies = [];
let non2xx = 0;
let firstError;

function post(k, due) {
  const payload = body(k);
  return new Promise((resolve, reject) => {
    const req = http.request(
      target,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => {
          latencies.push(performance.now() - due);
          if (res.statusCode !== 200) {
            non2xx++;
            firstError ??= `${res.statusCode} ${text.slice(0, 300)}`;
          }
          resolve();
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const cpu = process.cpuUsage();
const started = performance.now();
if (run.rate) {
  // open loop: request k is due at started + k / rate; a timer sends whatever is due
  const pending = [];
  let k = 0;
  await new Promise((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (k < requests && started + (k * 1000) / run.rate <= now) {
        pending.push(post(k, started + (k * 1000) / run.rate));
        k++;
      }
      if (k < requests) setTimeout(tick, 0.2);
      else resolve();
    };
    tick();
  });
  await Promise.all(pending);
} else {
  let next = 0;
  const worker = async () => {
    while (next < requests) {
      const k = next++;
      await post(k, performance.now());
    }
  };
  await Promise.all(Array.from({ length: run.connections }, worker));
}
const seconds = (performance.now() - started) / 1000;
const used = process.cpuUsage(cpu);
agent.destroy();
latencies.sort((a, b) => a - b);
const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
process.stdout.write(
  JSON.stringify({
    requests: latencies.length,
    events: run.events,
    seconds,
    eventsPerSecond: run.events / seconds,
    p50: at(0.5),
    p99: at(0.99),
    max: latencies[latencies.length - 1],
    non2xx,
    firstError,
    clientCpu: (used.user + used.system) / 1e6 / seconds,
  }) + '\n',
);
