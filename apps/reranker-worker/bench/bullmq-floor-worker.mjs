// BullMQ alone, for the worker benchmark's baseline: a worker process whose processor does nothing but return `size`
// positions and scores (the shape of a rerank result), on a queue of the benchmark's own. What is left of a rerank's
// overhead beyond this round trip is dotrank's. Usage: node bullmq-floor-worker.mjs <redis url> <prefix>; prints
// "ready" once it takes jobs, stops on SIGTERM.
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';

const [url, prefix] = process.argv.slice(2);
const worker = new Worker(
  'floor',
  async (job) => {
    const size = job.data.size;
    return {
      ranked: {
        index: Array.from({ length: size }, (_, i) => i),
        score: Array.from({ length: size }, () => Math.random()),
      },
    };
  },
  { connection: new Redis(url, { maxRetriesPerRequest: null }), prefix, concurrency: 1 },
);
await worker.waitUntilReady();
process.stdout.write('ready\n');
process.once('SIGTERM', () => void worker.close().then(() => process.exit(0)));
