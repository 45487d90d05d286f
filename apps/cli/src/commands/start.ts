import type { Command } from 'commander';
import { loadConfig } from '@dotrank/core';
import { intFlag } from '../lib/flags.js';
import { quickstart } from '../lib/quickstart.js';

interface StartFlags {
  collection?: string;
  model?: string;
  port?: string;
  host?: string;
  depth: string;
  exitWhenReady?: boolean;
  pull: boolean;
  progress: boolean;
}

/** `dotrank start` (what `npm start` runs): the whole pipeline on a sample collection, with no set-up. */
export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description('index a sample collection, warm the cache, start API + worker + dashboard, run BM25 vs TAS-B, print the URL and a table')
    .option('--collection <dir>', 'BEIR collection folder (default: <shared>/datasets/cranfield)')
    .option('--model <dir>', 'model folder (default: DOTRANK_MODEL, else pull TAS-B, else the fixture model)')
    .option('--port <n>', 'API port (default DOTRANK_PORT or 3000)')
    .option('--host <host>', 'API address (default DOTRANK_HOST or 127.0.0.1)')
    .option('--depth <n>', 'first-stage depth of the evaluation', '100')
    .option('--exit-when-ready', 'stop everything as soon as it is ready (smoke tests and benchmarks)')
    .option('--no-pull', 'do not try the model hub')
    .option('--no-progress', 'no progress bars')
    .action(async (flags: StartFlags) => {
      const config = loadConfig();
      const started = await quickstart(config, {
        depth: intFlag('--depth', flags.depth, 1, 10_000)!,
        ...(flags.collection ? { collection: flags.collection } : {}),
        ...(flags.model ? { model: flags.model } : {}),
        ...(flags.port ? { port: intFlag('--port', flags.port, 0, 65_535)! } : {}),
        ...(flags.host ? { host: flags.host } : {}),
        ...(flags.exitWhenReady ? { exitWhenReady: true } : {}),
        ...(flags.pull ? {} : { noPull: true }),
        progress: flags.progress,
      });
      process.stdout.write(
        `\n${started.eval.table}\n\n` +
          `dotrank is ready in ${(started.readyMs / 1000).toFixed(1)} s (${started.mode} mode${started.eval.reused ? ', evaluation reused' : ''})\n` +
          `  dashboard: ${started.dashboardUrl}\n` +
          `  search:    ${started.url}/search?q=boundary+layer&fusion=tasb\n` +
          `  API docs:  ${started.url}/docs\n`,
      );
      if (flags.exitWhenReady) {
        await started.stop();
        return;
      }
      process.stdout.write('press Ctrl-C to stop\n');
      await new Promise<void>((done) => {
        // The same stop request may arrive twice (process group and parent): the first stops gracefully,
        // repeats within a few seconds are ignored, a later one forces the exit.
        let stoppingSince = 0;
        const onSignal = (signal: NodeJS.Signals) => {
          if (stoppingSince === 0) {
            stoppingSince = Date.now();
            process.stderr.write(`${signal}: stopping ...\n`);
            started.stop().then(done, done);
          } else if (Date.now() - stoppingSince > 3000) {
            process.stderr.write(`${signal} again: exiting now\n`);
            process.exit(130);
          }
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
      });
      // everything is closed; a library handle that lingers must not keep the process alive
      setTimeout(() => process.exit(0), 2000).unref();
    });
}
