import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';
import { loadConfig } from '@dotrank/core';
import { FIRST_STAGES } from '@dotrank/dense';
import { startServer } from '@dotrank/search-api';
import type { StartFlags } from '@dotrank/search-api';

function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65_535) throw new InvalidArgumentError('must be an integer 0..65535');
  return n;
}

/** The command's options are startServer's flags (its logger is configured from the environment). */
type ServeOptions = Omit<StartFlags, 'logger'>;

/** `dotrank serve`: the search API, the Elasticsearch rerank proxy, health, metrics and the dashboard. */
export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('Run the search API (/search, /:index/_search rerank proxy, /healthz, /readyz, /metrics, /docs)')
    .option('--index-dir <dir>', 'embedded BM25 index folder (built by `dotrank index`)')
    .option('--index <name>', 'Elasticsearch index to search (needs ELASTICSEARCH_URL)')
    .option('--model <dir>', 'model folder for in-process reranking (default DOTRANK_MODEL)')
    .option('--port <port>', 'port to listen on (default DOTRANK_PORT or 3000)', port)
    .option('--host <host>', 'address to bind (default DOTRANK_HOST or 127.0.0.1)')
    .option('--eval-dir <dir>', 'eval outputs served at /api/evals (default <DOTRANK_DATA_DIR>/evals)')
    .option('--dashboard-dir <dir>', 'dashboard build served as it is at /dashboard/ (default apps/dashboard/dist, built from apps/dashboard when missing or stale)')
    .option('--in-process', 'rerank in this process even when REDIS_URL is set')
    .addOption(new Option('--first-stage <kind>', 'bm25 (default), dense or hybrid (dense index built by dotrank eval --first-stage; needs --model)').choices([...FIRST_STAGES]))
    .action(async (options: ServeOptions) => {
      const config = loadConfig(process.env);
      const running = await startServer(config, {
        ...(options.indexDir ? { indexDir: options.indexDir } : {}),
        ...(options.index ? { index: options.index } : {}),
        ...(options.model ? { model: options.model } : {}),
        ...(options.port !== undefined ? { port: options.port } : {}),
        ...(options.host ? { host: options.host } : {}),
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
            .catch((error: unknown) => process.stderr.write(`dotrank: error during shutdown: ${(error as Error).message}\n`))
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
