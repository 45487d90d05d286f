// A stand-in rerank worker process for the API tests (until `dotrank worker` lands): one BullMQ Worker running
// rerank-core's pipeline with the given model. Usage: worker-process.ts <redisUrl> <queuePrefix> <modelDir>
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { loadEncoder } from '@dotrank/encoder';
import { queueNames, rerankCandidates, rerankJobSchema } from '@dotrank/rerank-core';
import type { RerankJobResult } from '@dotrank/rerank-core';
import { MemoryVectorStore } from '@dotrank/vector-cache';

const [redisUrl, prefix, modelDir] = process.argv.slice(2);
if (!redisUrl || !prefix || !modelDir) throw new Error('usage: worker-process.ts <redisUrl> <queuePrefix> <modelDir>');
const encoder = await loadEncoder(modelDir);
const store = new MemoryVectorStore({ dimension: encoder.dimension });
const names = queueNames(prefix);
const schema = rerankJobSchema();
const worker = new Worker(
  names.rerank,
  async (job): Promise<RerankJobResult> => {
    const data = schema.parse(job.data);
    const queueWaitMs = data.enqueuedAt !== undefined ? Math.max(0, Date.now() - data.enqueuedAt) : undefined;
    const result = await rerankCandidates(data, { encoder, store }, data.deadlineAt !== undefined ? { deadlineAt: data.deadlineAt } : {});
    return {
      results: result.results.map(({ id, rank, score, bm25Score, tasbScore }) => ({ id, rank, score, bm25Score, ...(tasbScore !== undefined ? { tasbScore } : {}) })),
      fusion: result.fusion,
      timings: { ...result.timings, ...(queueWaitMs !== undefined ? { queueWaitMs } : {}) },
      cache: result.cache,
    };
  },
  { connection: new Redis(redisUrl, { maxRetriesPerRequest: null }), prefix: names.prefix },
);
await worker.waitUntilReady();
process.stdout.write('worker ready\n');
const stop = async () => {
  await worker.close();
  await encoder.close();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
