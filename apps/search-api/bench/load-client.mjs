// Load generator, run as its own process by search.bench.ts so the server under test does not share its event loop.
// Usage: node load-client.mjs <baseUrl> <fusion> <connections> <seconds> <queries.json>
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

const [baseUrl, fusion, connections, seconds, queriesFile] = process.argv.slice(2);
const queries = JSON.parse(readFileSync(queriesFile, 'utf8'));
let next = 0;
const result = await autocannon({
  url: baseUrl,
  connections: Number(connections),
  duration: Number(seconds),
  requests: [
    {
      method: 'GET',
      setupRequest: (request) => {
        const q = queries[next++ % queries.length];
        return { ...request, path: `/search?q=${encodeURIComponent(q)}&k=10&candidates=100&fusion=${fusion}` };
      },
    },
  ],
});
process.stdout.write(
  JSON.stringify({
    requests: result.requests.total,
    rps: result.requests.average,
    p50: result.latency.p50,
    p90: result.latency.p90,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  }) + '\n',
);
