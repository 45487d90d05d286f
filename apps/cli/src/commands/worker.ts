import { InvalidArgumentError } from 'commander';
import type { Command } from 'commander';
import { runWorkerProcess } from '@dotrank/reranker-worker';
import { addQueryEncodingOptions, commandConfig, commandEnv, configOption } from '../lib/config-options.js';

function intArg(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) throw new InvalidArgumentError(`must be an integer ${min}..${max}`);
    return n;
  };
}

interface WorkerOptions {
  workersPerMachine?: number;
  metricsPort?: number;
  lockDuration?: number;
  stalledInterval?: number;
  warm?: boolean;
}

/** `dotrank worker`: a BullMQ reranker worker (rerank + warm queues) until SIGTERM/SIGINT. */
export function registerWorkerCommand(program: Command): void {
  const command = program
    .command('worker')
    .description(
      'Run a reranker worker: takes rerank and warm jobs from Redis (REDIS_URL, DOTRANK_QUEUE_PREFIX, DOTRANK_KEY_PREFIX)',
    )
    .addOption(configOption('--model <dir>', 'DOTRANK_MODEL', 'model folder'))
    .addOption(configOption('--concurrency <n>', 'DOTRANK_WORKER_CONCURRENCY', 'rerank jobs at once'))
    .addOption(configOption('--batch-size <n>', 'DOTRANK_BATCH_SIZE', 'passages per encoder call'))
    .addOption(
      configOption(
        '--threads <n>',
        'DOTRANK_ORT_THREADS',
        'ONNX Runtime intra-op threads, 0 = cores / --workers-per-machine',
      ),
    )
    .option(
      '--workers-per-machine <n>',
      'worker processes sharing this machine, to split the cores (default 1)',
      intArg(1, 1024),
    )
    .option(
      '--metrics-port <port>',
      'serve Prometheus metrics at http://DOTRANK_HOST:<port>/metrics',
      intArg(0, 65_535),
    )
    .option('--lock-duration <ms>', 'BullMQ job lock duration (default 30000)', intArg(100, 3_600_000))
    .option('--stalled-interval <ms>', 'BullMQ stalled-job check interval (default 30000)', intArg(100, 3_600_000))
    .option('--no-warm', 'do not take warm (corpus precompute) jobs');
  addQueryEncodingOptions(command).action(async (options: WorkerOptions) => {
    commandConfig(command); // a bad flag is reported under its own name before the worker reads the same environment
    await runWorkerProcess(
      {
        ...(options.workersPerMachine !== undefined ? { workersPerMachine: options.workersPerMachine } : {}),
        ...(options.metricsPort !== undefined ? { metricsPort: options.metricsPort } : {}),
        ...(options.lockDuration !== undefined ? { lockDuration: options.lockDuration } : {}),
        ...(options.stalledInterval !== undefined ? { stalledInterval: options.stalledInterval } : {}),
        ...(options.warm === false ? { warm: false } : {}),
      },
      commandEnv(command),
    );
  });
}
