import { InvalidArgumentError } from 'commander';
import type { Command } from 'commander';
import { runWorkerProcess } from '@dotrank/reranker-worker';

function intArg(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) throw new InvalidArgumentError(`must be an integer ${min}..${max}`);
    return n;
  };
}

interface WorkerOptions {
  model?: string;
  concurrency?: number;
  batchSize?: number;
  threads?: number;
  workersPerMachine?: number;
  metricsPort?: number;
  lockDuration?: number;
  stalledInterval?: number;
  warm?: boolean;
}

/** `dotrank worker`: a BullMQ reranker worker (rerank + warm queues) until SIGTERM/SIGINT. */
export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('Run a reranker worker: takes rerank and warm jobs from Redis (REDIS_URL, DOTRANK_QUEUE_PREFIX, DOTRANK_KEY_PREFIX)')
    .option('--model <dir>', 'model folder (default DOTRANK_MODEL)')
    .option('--concurrency <n>', 'rerank jobs at once (default DOTRANK_WORKER_CONCURRENCY or 1)', intArg(1, 1024))
    .option('--batch-size <n>', 'passages per encoder call (default DOTRANK_BATCH_SIZE or 32)', intArg(1, 4096))
    .option('--threads <n>', 'ONNX Runtime intra-op threads (default DOTRANK_ORT_THREADS, else cores / --workers-per-machine)', intArg(1, 1024))
    .option('--workers-per-machine <n>', 'worker processes sharing this machine, to split the cores (default 1)', intArg(1, 1024))
    .option('--metrics-port <port>', 'serve Prometheus metrics at http://DOTRANK_HOST:<port>/metrics', intArg(0, 65_535))
    .option('--lock-duration <ms>', 'BullMQ job lock duration (default 30000)', intArg(100, 3_600_000))
    .option('--stalled-interval <ms>', 'BullMQ stalled-job check interval (default 30000)', intArg(100, 3_600_000))
    .option('--no-warm', 'do not take warm (corpus precompute) jobs')
    .action(async (options: WorkerOptions) => {
      await runWorkerProcess({
        ...(options.model ? { modelDir: options.model } : {}),
        ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
        ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
        ...(options.threads !== undefined ? { threads: options.threads } : {}),
        ...(options.workersPerMachine !== undefined ? { workersPerMachine: options.workersPerMachine } : {}),
        ...(options.metricsPort !== undefined ? { metricsPort: options.metricsPort } : {}),
        ...(options.lockDuration !== undefined ? { lockDuration: options.lockDuration } : {}),
        ...(options.stalledInterval !== undefined ? { stalledInterval: options.stalledInterval } : {}),
        ...(options.warm === false ? { warm: false } : {}),
      });
    });
}
