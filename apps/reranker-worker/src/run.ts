import { pino } from 'pino';
import { describeError, loadConfig } from '@dotrank/core';
import { startWorker, type StartWorkerOptions } from './worker.js';

/**
 * Runs a worker until SIGTERM/SIGINT: the first signal stops taking jobs and waits for the in-flight ones; a second
 * one exits at once (BullMQ's stalled-job check then hands the job to another worker). Each close step takes at most
 * 3 s, then the process exits, even when Redis no longer answers.
 */
export async function runWorkerProcess(
  options: StartWorkerOptions,
  env: Record<string, string | undefined> = process.env,
): Promise<void> {
  const config = loadConfig(env);
  const logger =
    options.logger ?? pino({ level: config.DOTRANK_LOG_LEVEL, base: { service: 'dotrank-worker', pid: process.pid } });
  const running = await startWorker(config, { ...options, logger });
  process.stderr.write(
    `dotrank: worker ready (model ${running.encoder.modelId}, ${running.threads} ORT threads${running.metricsUrl ? `, metrics at ${running.metricsUrl}` : ''})\n`,
  );
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals | 'parent exit') => {
      if (stopping && signal === 'parent exit') return;
      if (stopping) {
        process.stderr.write(
          `dotrank: second ${signal}, exiting now (in-flight jobs will be retried by another worker)\n`,
        );
        process.exit(130);
      }
      stopping = true;
      process.stderr.write(`dotrank: ${signal} received, finishing in-flight jobs\n`);
      running.close().then(resolve, (error: unknown) => {
        process.stderr.write(`dotrank: shutdown error: ${describeError(error)}\n`);
        resolve();
      });
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    // started by a parent with an IPC channel (`dotrank start`): when that parent dies, do not linger as an orphan
    if (process.send) {
      process.once('disconnect', () => stop('parent exit'));
      process.channel?.unref();
    }
  });
  process.stderr.write('dotrank: worker stopped\n');
  // every close step is bounded, so a connection to a Redis that stopped answering may still be open (reconnecting):
  // it must not keep the process alive; a process with nothing left open has exited before this fires
  setTimeout(() => process.exit(process.exitCode ?? 0), 1000).unref();
}
