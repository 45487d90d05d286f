import { Option } from 'commander';
import type { Command } from 'commander';
import { FIRST_STAGES } from '@dotrank/dense';
import { startServer } from '@dotrank/search-api';
import type { StartFlags } from '@dotrank/search-api';
import {
  addElasticsearchFieldOptions,
  addQueryEncodingOptions,
  commandConfig,
  configOption,
  givenOnCommandLine,
} from '../lib/config-options.js';

/** The command's own options; model, port, host and index reach startServer through the configuration. */
type ServeOptions = Pick<StartFlags, 'indexDir' | 'evalDir' | 'dashboardDir' | 'inProcess' | 'firstStage'>;

/** `dotrank serve`: the search API, the Elasticsearch rerank proxy, health, metrics and the dashboard. */
export function registerServeCommand(program: Command): void {
  const command = program
    .command('serve')
    .description('Run the search API (/search, /:index/_search rerank proxy, /healthz, /readyz, /metrics, /docs)')
    .option('--index-dir <dir>', 'embedded BM25 index folder (built by `dotrank index`)')
    .addOption(
      configOption('--index <name>', 'ELASTICSEARCH_INDEX', 'Elasticsearch index to search (needs ELASTICSEARCH_URL)'),
    )
    .addOption(configOption('--model <dir>', 'DOTRANK_MODEL', 'model folder for in-process reranking'))
    .addOption(configOption('--port <port>', 'DOTRANK_PORT', 'port to listen on'))
    .addOption(configOption('--host <host>', 'DOTRANK_HOST', 'address to bind'))
    .option('--eval-dir <dir>', 'eval outputs served at /api/evals (default <DOTRANK_DATA_DIR>/evals)')
    .option(
      '--dashboard-dir <dir>',
      'dashboard build served as it is at /dashboard/ (default apps/dashboard/dist, built from apps/dashboard when missing or stale)',
    )
    .option('--in-process', 'rerank in this process even when REDIS_URL is set')
    .addOption(
      new Option(
        '--first-stage <kind>',
        'bm25 (default), dense or hybrid (dense index built by dotrank eval --first-stage; needs --model)',
      ).choices([...FIRST_STAGES]),
    );
  addQueryEncodingOptions(addElasticsearchFieldOptions(command)).action(async (options: ServeOptions) => {
    const config = commandConfig(command);
    const running = await startServer(config, {
      ...(options.indexDir ? { indexDir: options.indexDir } : {}),
      // only a typed --index chooses Elasticsearch; ELASTICSEARCH_INDEX alone names the index but not the source
      ...(givenOnCommandLine(command, 'index') ? { index: config.ELASTICSEARCH_INDEX } : {}),
      ...(options.evalDir ? { evalDir: options.evalDir } : {}),
      ...(options.dashboardDir ? { dashboardDir: options.dashboardDir } : {}),
      ...(options.inProcess ? { inProcess: true } : {}),
      ...(options.firstStage ? { firstStage: options.firstStage } : {}),
    });
    process.stderr.write(`dotrank: serving on ${running.url} (${running.mode} mode); docs at ${running.url}/docs\n`);
    await new Promise<void>((resolve) => {
      let stopping = false;
      const stop = (signal: NodeJS.Signals) => {
        if (stopping) return;
        stopping = true;
        process.stderr.write(`dotrank: ${signal} received, shutting down\n`);
        const force = setTimeout(() => {
          process.stderr.write('dotrank: shutdown took over 10 s, exiting\n');
          process.exit(1);
        }, 10_000);
        force.unref();
        running
          .close()
          .catch((error: unknown) =>
            process.stderr.write(`dotrank: error during shutdown: ${(error as Error).message}\n`),
          )
          .finally(() => {
            clearTimeout(force);
            resolve();
          });
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
  });
}
