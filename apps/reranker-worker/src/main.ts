// `reranker-worker` process entry: flags as `dotrank worker` (--model, --concurrency, --batch-size, --threads,
// --workers-per-machine, --metrics-port, --lock-duration, --stalled-interval, --no-warm); Redis etc. from the environment.
import { parseArgs } from 'node:util';
import { ValidationError, describeError, isDotrankError } from '@dotrank/core';
import { runWorkerProcess } from './run.js';

function int(name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max)
    throw new ValidationError(`--${name}`, `must be an integer ${min}..${max}`);
  return n;
}

try {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      concurrency: { type: 'string' },
      'batch-size': { type: 'string' },
      threads: { type: 'string' },
      'workers-per-machine': { type: 'string' },
      'metrics-port': { type: 'string' },
      'lock-duration': { type: 'string' },
      'stalled-interval': { type: 'string' },
      'no-warm': { type: 'boolean' },
    },
  });
  const opt = <T>(key: string, v: T | undefined) => (v === undefined ? {} : { [key]: v });
  await runWorkerProcess({
    ...opt('modelDir', values.model),
    ...opt('concurrency', int('concurrency', values.concurrency, 0, 1024)),
    ...opt('batchSize', int('batch-size', values['batch-size'], 1, 4096)),
    ...opt('threads', int('threads', values.threads, 1, 1024)),
    ...opt('workersPerMachine', int('workers-per-machine', values['workers-per-machine'], 1, 1024)),
    ...opt('metricsPort', int('metrics-port', values['metrics-port'], 0, 65_535)),
    ...opt('lockDuration', int('lock-duration', values['lock-duration'], 100, 3_600_000)),
    ...opt('stalledInterval', int('stalled-interval', values['stalled-interval'], 100, 3_600_000)),
    ...(values['no-warm'] ? { warm: false } : {}),
  });
} catch (error) {
  process.stderr.write(`reranker-worker: ${describeError(error)}\n`);
  process.exitCode = isDotrankError(error) ? 2 : 1;
}
