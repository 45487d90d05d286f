// Load client of the event-intake benchmark, run as its own process (pinned to another core than the server) by
// experiments.bench.ts. Usage: node events-client.mjs <run.json>, where run.json holds
//   { url, targets: [[impressionId, docId], ...], run (event-id prefix), events, batch, connections,
//     rate? (requests/s offered: open loop; absent = closed loop, each connection sends its next request on answer) }
// Prints one JSON line: events/s and per-request latency. Open loop latency counts from the moment a request was due,
// so a server that falls behind shows it in its p99 (no coordinated omission). Times in ms with microseconds.
// The client measures itself as little as it can: every body is built before the clock starts, and an open-loop run
// first sends one second at the same rate that is not recorded (its events have ids of their own), so the run's
// first requests pay neither for opening the connections nor for this process's JIT warm-up.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { intakeEvent } from './intake-events.mjs';

const run = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const target = new URL('/api/events', run.url);
const agent = new http.Agent({ keepAlive: true, maxSockets: run.connections });
const requests = Math.ceil(run.events / run.batch);

function body(k, total, runId) {
  const from = k * run.batch;
  const n = Math.min(run.batch, total - from);
  if (run.batch === 1) return JSON.stringify(intakeEvent(run.targets, from, runId));
  return JSON.stringify(Array.from({ length: n }, (_, j) => intakeEvent(run.targets, from + j, runId)));
}
const bodies = Array.from({ length: requests }, (_, k) => body(k, run.events, run.run));

const latencies = [];
let non2xx = 0;
let firstError;

function post(payload, due, record = true) {
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
          if (!record) return resolve();
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

/**
 * Open loop: payload k is due at `from` + k / rate. A timer wakes the loop shortly before the next is due (timers fire
 * a millisecond late or more) and setImmediate waits out the rest, so each is sent when due, not at the next tick.
 */
async function openLoop(payloads, record) {
  const pending = [];
  const from = performance.now();
  const due = (k) => from + (k * 1000) / run.rate;
  let k = 0;
  await new Promise((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (k < payloads.length && due(k) <= now) {
        pending.push(post(payloads[k], due(k), record));
        k++;
      }
      if (k >= payloads.length) return resolve();
      const wait = due(k) - performance.now();
      if (wait > 1.5) setTimeout(tick, wait - 1.5);
      else setImmediate(tick);
    };
    tick();
  });
  await Promise.all(pending);
}

let cpu = process.cpuUsage();
let started = performance.now();
if (run.rate) {
  const warmRequests = Math.ceil(run.rate);
  await openLoop(
    Array.from({ length: warmRequests }, (_, k) => body(k, warmRequests * run.batch, `${run.run}-warm`)),
    false,
  );
  cpu = process.cpuUsage();
  started = performance.now();
  await openLoop(bodies, true);
} else {
  let next = 0;
  const worker = async () => {
    while (next < requests) {
      const k = next++;
      await post(bodies[k], performance.now());
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
