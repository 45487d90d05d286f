import { Option } from 'commander';
import type { Command } from 'commander';
import { commandConfig, configOption } from '../lib/config-options.js';
import { intFlag, numberFlag } from '../lib/flags.js';
import { addOutputOptions, noticeWriter, showProgress } from '../lib/output.js';
import type { OutputFlags } from '../lib/output.js';
import { RERANK_FUSIONS, rerankRun } from '../lib/rerank-run.js';
import type { RerankFusion } from '../lib/rerank-run.js';

interface RerankFlags extends OutputFlags {
  run: string;
  collection?: string;
  queries?: string;
  out: string;
  depth?: string;
  fusion: RerankFusion;
  alpha?: string;
  normalization?: 'minmax' | 'zscore';
  via?: 'queue' | 'in-process';
  tag?: string;
}

/** `dotrank rerank --run`: rerank an existing run (TREC, or MS MARCO top1000) with the service's rerank step. */
export function registerRerankCommand(program: Command): void {
  const command = program
    .command('rerank')
    .description(
      'rerank every query of an existing run (a TREC run, or an MS MARCO top1000 TSV) and write a TREC run; resumes where --out stops',
    )
    .requiredOption(
      '--run <file>',
      'TREC run (qid Q0 docid rank score tag) or MS MARCO top1000 TSV (qid pid query passage); .gz too',
    )
    .option('--collection <dir>', 'collection folder (or corpus file) with the passage texts and queries of a TREC run')
    .option('--queries <file>', "queries (TSV or JSONL) when not the collection's")
    .requiredOption('--out <file>', 'the reranked TREC run; queries already in it are skipped (the last one is redone)')
    .addOption(configOption('--model <dir>', 'DOTRANK_MODEL', 'model folder (in-process reranking)'))
    .option(
      '--depth <n>',
      'candidates reranked per query: the best n of the run (default all, at most DOTRANK_MAX_CANDIDATES)',
    )
    .addOption(new Option('--fusion <mode>', 'score of the output').choices([...RERANK_FUSIONS]).default('tasb'))
    .option('--alpha <x>', 'weight of the first-stage score in --fusion interpolate (0..1, default 0.5)')
    .addOption(
      new Option('--normalization <kind>', 'score normalisation for interpolate').choices(['minmax', 'zscore']),
    )
    .addOption(
      new Option(
        '--via <where>',
        'rerank through the workers (queue) or here (default: queue when REDIS_URL is set)',
      ).choices(['queue', 'in-process']),
    )
    .option('--tag <tag>', 'run tag of the output (default dotrank-<fusion>)')
    .addOption(
      configOption(
        '--doc-score <mode>',
        'DOTRANK_DOC_SCORE',
        'document score from passage windows: first (truncate), firstp, maxp, sump, meanp, kmax:K; windowed modes also write <out>.passages.jsonl',
      ),
    )
    .addOption(configOption('--max-candidates <n>', 'DOTRANK_MAX_CANDIDATES', 'most candidates per query'))
    .addOption(configOption('--batch-size <n>', 'DOTRANK_BATCH_SIZE', 'encoder batch size'))
    .addOption(configOption('--threads <n>', 'DOTRANK_ORT_THREADS', 'ONNX Runtime intra-op threads, 0 = all cores'));
  addOutputOptions(command).action(async (flags: RerankFlags) => {
    const config = commandConfig(command);
    const log = noticeWriter(flags);
    const summary = await rerankRun(config, {
      run: flags.run,
      out: flags.out,
      fusion: flags.fusion,
      progress: showProgress(flags),
      log,
      ...(flags.collection ? { collection: flags.collection } : {}),
      ...(flags.queries ? { queries: flags.queries } : {}),
      ...(config.DOTRANK_MODEL ? { model: config.DOTRANK_MODEL } : {}),
      ...(flags.depth !== undefined ? { depth: intFlag('--depth', flags.depth, 1, 100_000)! } : {}),
      ...(flags.alpha !== undefined ? { alpha: numberFlag('--alpha', flags.alpha, 0, 1)! } : {}),
      ...(flags.normalization ? { normalization: flags.normalization } : {}),
      ...(flags.via ? { via: flags.via } : {}),
      ...(flags.tag ? { tag: flags.tag } : {}),
    });
    const rate = (summary.queries - summary.resumed) / (summary.ms / 1000);
    log(
      `reranked ${summary.queries - summary.resumed} queries (${summary.resumed} already done) in ${Math.round(summary.ms)} ms (${rate.toFixed(1)} queries/s) into ${summary.out}`,
    );
  });
}
