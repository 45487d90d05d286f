import { Option } from 'commander';
import { ConfigError } from '@dotrank/core';
import type { Command } from 'commander';
import { PRESET_NAMES, parseMeasures, resolveMeasures } from '@dotrank/eval';
import type { PValueCorrection } from '@dotrank/eval';
import { parseRunSpecs } from '../lib/run-inputs.js';
import { EVAL_SYSTEMS, formatReportTable, runEvaluation } from '../lib/eval-runner.js';
import type { EvalSystem } from '../lib/eval-runner.js';
import { FIRST_STAGES } from '@dotrank/dense';
import type { FirstStage } from '@dotrank/dense';
import { intFlag, listFlag, numberFlag } from '../lib/flags.js';
import {
  addElasticsearchFieldOptions,
  commandConfig,
  configOption,
  givenOnCommandLine,
} from '../lib/config-options.js';
import { addOutputOptions, noticeWriter, showProgress } from '../lib/output.js';
import type { OutputFlags } from '../lib/output.js';

interface EvalFlags extends OutputFlags {
  collection: string;
  out: string;
  systems?: string;
  source?: 'embedded' | 'elasticsearch';
  indexDir?: string;
  index?: string;
  firstStage?: string;
  docScore?: string;
  depth: string;
  level: string;
  alpha?: string;
  normalization?: 'minmax' | 'zscore';
  measures?: string;
  preset?: string;
  run?: string[];
  correction?: PValueCorrection;
  cache?: 'redis' | 'memory';
  skipInvalid?: boolean;
  judged?: boolean;
  json?: boolean;
}

/** `dotrank eval`: BM25 vs TAS-B (and fusions) on a collection, with trec_eval-exact measures and significance. */
export function registerEvalCommand(program: Command): void {
  const command = program
    .command('eval')
    .description(
      'index a collection, run BM25 and the rerankers, and write TREC runs + metrics.json with significance vs BM25',
    )
    .requiredOption(
      '--collection <dir>',
      'collection folder (BEIR: corpus.jsonl, queries.jsonl, qrels/; or MS MARCO TSV)',
    )
    .requiredOption('--out <dir>', 'output folder for <system>.run and metrics.json')
    .addOption(configOption('--model <dir>', 'DOTRANK_MODEL', 'model folder; not needed for --systems bm25'))
    .option(
      '--systems <list>',
      `comma-separated: ${EVAL_SYSTEMS.join(',')} (default: all when a model is given, else bm25)`,
    )
    .addOption(
      new Option('--source <kind>', 'first stage (default: embedded unless ELASTICSEARCH_URL is set)').choices([
        'embedded',
        'elasticsearch',
      ]),
    )
    .option('--index-dir <dir>', 'embedded index folder (default: <DOTRANK_DATA_DIR>/index/<collection>)')
    .addOption(configOption('--index <name>', 'ELASTICSEARCH_INDEX', 'Elasticsearch index'))
    .option(
      '--first-stage <list>',
      'first stages to compare, comma-separated: bm25,dense,hybrid (default bm25; dense and hybrid need --model)',
    )
    .option(
      '--doc-score <list>',
      'document scores to compare, comma-separated (first,firstp,maxp,sump,meanp,kmax:K; default DOTRANK_DOC_SCORE): each reranking system runs once per doc-score, named <system> under first and <system>-<doc-score> otherwise (kmax:2 -> tasb-kmax2)',
    )
    .option('--depth <n>', 'first-stage candidates per query, reranked and written to the runs', '1000')
    .option('--level <n>', 'minimum relevance grade for binary measures (trec_eval -l)', '1')
    .option('--alpha <x>', 'weight of BM25 in --systems interpolate (0..1, default 0.5)')
    .addOption(
      new Option('--normalization <kind>', 'score normalisation for interpolate').choices(['minmax', 'zscore']),
    )
    .option(
      '--measures <list>',
      'trec_eval or ir_measures names, e.g. nDCG@10,AP(rel=2) (default: recip_rank_cut.10,ndcg_cut.10,recall.100,1000,map,P.10,recip_rank)',
    )
    .option(
      '--preset <name>',
      `the measures of a benchmark's protocol (${PRESET_NAMES.join(', ')}), before any --measures`,
    )
    .option(
      '--run <name=path>',
      'an outside TREC run (.gz too) evaluated as one more system, repeatable (e.g. --run published=bm25.trec)',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .addOption(
      new Option('--correction <method>', 'multiple-testing correction of the p-values vs BM25 (default none)').choices(
        ['holm', 'bonferroni', 'none'],
      ),
    )
    .addOption(configOption('--batch-size <n>', 'DOTRANK_BATCH_SIZE', 'encoder batch size'))
    .addOption(configOption('--threads <n>', 'DOTRANK_ORT_THREADS', 'ONNX Runtime intra-op threads, 0 = all cores'))
    .addOption(
      new Option('--cache <kind>', 'vector cache (default: redis when REDIS_URL is set, else memory)').choices([
        'redis',
        'memory',
      ]),
    )
    .option(
      '--judged',
      'report Judged@10 and condensed nDCG@10 and MAP (trec_eval -J) beside the measures (default: yes, unless --measures or --preset choose the measures)',
    )
    .option('--no-judged', 'leave Judged@10 and the condensed (-J) measures out')
    .option('--skip-invalid', 'leave invalid corpus lines out, each reported, instead of failing at the first (exit 2)')
    .option('--json', 'print metrics.json to stdout instead of the table');
  addElasticsearchFieldOptions(addOutputOptions(command)).action((flags: EvalFlags) => runEvalCommand(command, flags));
}

/** `--doc-score a,b`: the names (checked when the evaluation is planned); an empty list is refused here. */
function docScoreList(text: string): string[] {
  const names = text
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');
  if (names.length === 0) throw new ConfigError('--doc-score', 'needs at least one name, e.g. first,maxp');
  return names;
}

/** The action of `dotrank eval`: flags to evaluation options, then the table (or JSON) on stdout. */
async function runEvalCommand(command: Command, flags: EvalFlags): Promise<void> {
  const config = commandConfig(command);
  const log = noticeWriter(flags);
  const hasModel = Boolean(config.DOTRANK_MODEL);
  const systems = flags.systems
    ? listFlag<EvalSystem>('--systems', flags.systems, EVAL_SYSTEMS)
    : hasModel
      ? [...EVAL_SYSTEMS]
      : (['bm25'] as EvalSystem[]);
  const summary = await runEvaluation(config, {
    collection: flags.collection,
    out: flags.out,
    systems,
    ...(flags.docScore !== undefined ? { docScores: docScoreList(flags.docScore) } : {}),
    ...(flags.firstStage ? { firstStages: listFlag<FirstStage>('--first-stage', flags.firstStage, FIRST_STAGES) } : {}),
    depth: intFlag('--depth', flags.depth, 1, 10_000)!,
    level: intFlag('--level', flags.level, 0, 1000)!,
    progress: showProgress(flags),
    log,
    ...(flags.source ? { source: flags.source } : {}),
    ...(flags.indexDir ? { indexDir: flags.indexDir } : {}),
    ...(givenOnCommandLine(command, 'index') ? { index: config.ELASTICSEARCH_INDEX } : {}),
    ...(flags.alpha !== undefined ? { alpha: numberFlag('--alpha', flags.alpha, 0, 1)! } : {}),
    ...(flags.normalization ? { normalization: flags.normalization } : {}),
    ...(flags.measures || flags.preset
      ? {
          measures: parseMeasures(
            resolveMeasures({ preset: flags.preset, measures: flags.measures ? [flags.measures] : [] })!,
          ),
        }
      : {}),
    ...(flags.run ? { runs: parseRunSpecs(flags.run, '--run') } : {}),
    ...(flags.correction ? { correction: flags.correction } : {}),
    ...(flags.cache ? { cache: flags.cache } : {}),
    ...(flags.skipInvalid ? { skipInvalid: true } : {}),
    // chosen measures (a benchmark's protocol) are reported as chosen unless --judged asks for more
    judged: flags.judged ?? !(flags.measures || flags.preset),
  });
  if (flags.json) process.stdout.write(`${JSON.stringify(summary.report, null, 2)}\n`);
  else process.stdout.write(`${formatReportTable(summary.report)}\n`);
  log(`wrote ${Object.keys(summary.runFiles).length} runs and metrics.json to ${summary.outDir}`);
}
