import type { Command } from 'commander';
import { intFlag } from '../lib/flags.js';
import { quickstart } from '../lib/quickstart.js';
import { commandConfig, configOption } from '../lib/config-options.js';
import { addOutputOptions, noticeWriter, showProgress } from '../lib/output.js';
import type { OutputFlags } from '../lib/output.js';

interface StartFlags extends OutputFlags {
  collection?: string;
  depth: string;
  exitWhenReady?: boolean;
  pull: boolean;
}

/** `dotrank start` (what `npm start` runs): the whole pipeline on a sample collection, with no set-up. */
export function registerStartCommand(program: Command): void {
  const command = program
    .command('start')
    .description(
      'index a sample collection, warm the cache, start API + worker + dashboard, run BM25 vs TAS-B, print the URL and a table',
    )
    .option('--collection <dir>', 'BEIR collection folder (default: datasets/cranfield in the repository)')
    .addOption(
      configOption(
        '--model <dir>',
        'DOTRANK_MODEL',
        'model folder (unset: a pulled TAS-B, else a pull from the hub, else the fixture model)',
      ),
    )
    .addOption(configOption('--port <n>', 'DOTRANK_PORT', 'API port'))
    .addOption(configOption('--host <host>', 'DOTRANK_HOST', 'API address'))
    .addOption(configOption('--log-level <level>', 'DOTRANK_LOG_LEVEL', 'log level of the API in this process', 'warn'))
    .option('--depth <n>', 'first-stage depth of the evaluation', '100')
    .option('--exit-when-ready', 'stop everything as soon as it is ready (smoke tests and benchmarks)')
    .option('--no-pull', 'do not try the model hub');
  addOutputOptions(command).action(async (flags: StartFlags) => {
    const config = commandConfig(command);
    const started = await quickstart(config, {
      depth: intFlag('--depth', flags.depth, 1, 10_000)!,
      ...(flags.collection ? { collection: flags.collection } : {}),
      ...(flags.exitWhenReady ? { exitWhenReady: true } : {}),
      ...(flags.pull ? {} : { noPull: true }),
      progress: showProgress(flags),
      log: noticeWriter(flags),
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
    process.stderr.write('press Ctrl-C to stop\n');
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
