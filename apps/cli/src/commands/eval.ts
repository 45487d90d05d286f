import { Option } from 'commander';
import type { Command } from 'commander';
import { loadConfig } from '@dotrank/core';
import { parseMeasures } from '@dotrank/eval';
import { EVAL_SYSTEMS, formatReportTable, runEvaluation } from '../lib/eval-runner.js';
import type { EvalSystem } from '../lib/eval-runner.js';
import { FIRST_STAGES } from '@dotrank/dense';
import type { FirstStage } from '@dotrank/dense';
import { intFlag, listFlag, numberFlag } from '../lib/flags.js';

interface EvalFlags {
  collection: string;
  out: string;
  model?: string;
  systems?: string;
  source?: 'embedded' | 'elasticsearch';
  indexDir?: string;
  index?: string;
  firstStage?: string;
  depth: string;
  level: string;
  alpha?: string;
  normalization?: 'minmax' | 'zscore';
  measures?: string;
  batchSize?: string;
  threads?: string;
  cache?: 'redis' | 'memory';
  json?: boolean;
  progress: boolean;
}

/** `dotrank eval`: BM25 vs TAS-B (and fusions) on a collection, with trec_eval-exact measures and significance. */
export function registerEvalCommand(program: Command): void {
  program
    .command('eval')
    .description('index a collection, run BM25 and the rerankers, and write TREC runs + metrics.json with significance vs BM25')
    .requiredOption('--collection <dir>', 'collection folder (BEIR: corpus.jsonl, queries.jsonl, qrels/; or MS MARCO TSV)')
    .requiredOption('--out <dir>', 'output folder for <system>.run and metrics.json')
    .option('--model <dir>', 'model folder (default: DOTRANK_MODEL); not needed for --systems bm25')
    .option('--systems <list>', `comma-separated: ${EVAL_SYSTEMS.join(',')} (default: all when a model is given, else bm25)`)
    .addOption(new Option('--source <kind>', 'first stage (default: embedded unless ELASTICSEARCH_URL is set)').choices(['embedded', 'elasticsearch']))
    .option('--index-dir <dir>', 'embedded index folder (default: <DOTRANK_DATA_DIR>/index/<collection>)')
    .option('--index <name>', 'Elasticsearch index (default: ELASTICSEARCH_INDEX)')
    .option('--first-stage <list>', 'first stages to compare, comma-separated: bm25,dense,hybrid (default bm25; dense and hybrid need --model)')
    .option('--depth <n>', 'first-stage candidates per query, reranked and written to the runs', '1000')
    .option('--level <n>', 'minimum relevance grade for binary measures (trec_eval -l)', '1')
    .option('--alpha <x>', 'weight of BM25 in --systems interpolate (0..1, default 0.5)')
    .addOption(new Option('--normalization <kind>', 'score normalisation for interpolate').choices(['minmax', 'zscore']))
    .option('--measures <list>', 'trec_eval measure names (default: recip_rank_cut.10,ndcg_cut.10,recall.100,1000,map,P.10,recip_rank)')
    .option('--batch-size <n>', 'encoder batch size (default DOTRANK_BATCH_SIZE)')
    .option('--threads <n>', 'ONNX Runtime intra-op threads (default: all cores)')
    .addOption(new Option('--cache <kind>', 'vector cache (default: redis when REDIS_URL is set, else memory)').choices(['redis', 'memory']))
    .option('--json', 'print metrics.json to stdout instead of the table')
    .option('--no-progress', 'no progress bars')
    .action(async (flags: EvalFlags) => {
      const config = loadConfig();
      const hasModel = Boolean(flags.model ?? config.DOTRANK_MODEL);
      const systems = flags.systems ? listFlag<EvalSystem>('--systems', flags.systems, EVAL_SYSTEMS) : hasModel ? [...EVAL_SYSTEMS] : (['bm25'] as EvalSystem[]);
      const summary = await runEvaluation(config, {
        collection: flags.collection,
        out: flags.out,
        systems,
        ...(flags.firstStage ? { firstStages: listFlag<FirstStage>('--first-stage', flags.firstStage, FIRST_STAGES) } : {}),
        depth: intFlag('--depth', flags.depth, 1, 10_000)!,
        level: intFlag('--level', flags.level, 0, 1000)!,
        progress: flags.progress,
        ...(flags.model ? { model: flags.model } : {}),
        ...(flags.source ? { source: flags.source } : {}),
        ...(flags.indexDir ? { indexDir: flags.indexDir } : {}),
        ...(flags.index ? { index: flags.index } : {}),
        ...(flags.alpha !== undefined ? { alpha: numberFlag('--alpha', flags.alpha, 0, 1)! } : {}),
        ...(flags.normalization ? { normalization: flags.normalization } : {}),
        ...(flags.measures ? { measures: parseMeasures(flags.measures) } : {}),
        ...(flags.batchSize ? { batchSize: intFlag('--batch-size', flags.batchSize, 1, 4096)! } : {}),
        ...(flags.threads ? { threads: intFlag('--threads', flags.threads, 1, 1024)! } : {}),
        ...(flags.cache ? { cache: flags.cache } : {}),
      });
      if (flags.json) process.stdout.write(`${JSON.stringify(summary.report, null, 2)}\n`);
      else process.stdout.write(`${formatReportTable(summary.report)}\nwrote ${Object.keys(summary.runFiles).length} runs and metrics.json to ${summary.outDir}\n`);
    });
}
