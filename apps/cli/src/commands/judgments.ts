// `dotrank judgments export`: the Judge tab's grades as TREC qrels (with who and when in a sidecar log), from Redis
// when configured, else from the judgments file the API writes.
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { DotrankConfig } from '@dotrank/core';
import {
  FileJudgmentStore,
  RedisJudgmentStore,
  formatJudgedQueries,
  formatJudgmentLog,
  formatQrels,
  judgmentsFileOf,
} from '@dotrank/experiments';
import type { JudgmentStore } from '@dotrank/experiments';
import { createRedisConnection } from '@dotrank/vector-cache';
import { commandConfig } from '../lib/config-options.js';

interface ExportFlags {
  out: string;
  log?: string;
  queries?: string;
  file?: string;
}

function openStore(config: DotrankConfig, flags: ExportFlags): JudgmentStore {
  if (flags.file || !config.REDIS_URL) return new FileJudgmentStore(flags.file ?? judgmentsFileOf(config));
  const redis = createRedisConnection(config.REDIS_URL) as ConstructorParameters<typeof RedisJudgmentStore>[0];
  return new RedisJudgmentStore(redis, { keyPrefix: config.DOTRANK_KEY_PREFIX, closeConnection: true });
}

/** `dotrank judgments export`. */
export function registerJudgmentsCommand(program: Command): void {
  const judgments = program.command('judgments').description('relevance judgments made in the dashboard Judge tab');
  const exportCommand = judgments
    .command('export')
    .description('write the judgments as TREC qrels, with a sidecar log of who judged what when')
    .requiredOption('-o, --out <file>', 'qrels file to write (qid 0 docid grade)')
    .option('--log <file>', 'sidecar log (JSON lines: qid, docId, grade, judge, time); default <out>.log.jsonl')
    .option('--queries <file>', 'also write the judged queries as BEIR queries.jsonl (for dotrank eval)')
    .option(
      '--file <path>',
      'read this judgments file instead of Redis / <DOTRANK_DATA_DIR>/judgments/judgments.jsonl',
    );
  exportCommand.action(async (flags: ExportFlags) => {
    const config = commandConfig(exportCommand);
    const store = openStore(config, flags);
    try {
      const all = await store.list();
      await writeFile(flags.out, formatQrels(all));
      await writeFile(flags.log ?? `${flags.out}.log.jsonl`, formatJudgmentLog(all));
      if (flags.queries) await writeFile(flags.queries, formatJudgedQueries(all));
      process.stderr.write(`${all.length} judgments (${store.kind}) -> ${flags.out}\n`);
    } finally {
      await store.close();
    }
  });
}
