import type { Command } from 'commander';
import { ValidationError } from '@dotrank/core';
import { readQrels, readRunColumns } from '@dotrank/datasets';
import { DEFAULT_MEASURES, PRESET_NAMES, evaluate, formatTrecEval, resolveMeasures } from '@dotrank/eval';

interface MeasureOptions {
  measures?: string[];
  level?: string;
  allQueries?: boolean;
  perQuery?: boolean;
  maxResults?: string;
  judgedOnly?: boolean;
  preset?: string;
  json?: boolean;
}

function nonNegativeInteger(flag: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min || !Number.isSafeInteger(Number(value))) {
    throw new ValidationError(flag, `must be an integer >= ${min}, got "${value}"`);
  }
  return Number(value);
}

/** `dotrank measure <qrels> <run>`: trec_eval-exact evaluation of any TREC run file. */
export function registerMeasureCommand(program: Command): void {
  program
    .command('measure')
    .description('evaluate a TREC run against TREC or BEIR qrels with trec_eval 9 semantics')
    .argument(
      '<qrels>',
      'judgments: TREC qrels (qid 0 docid rel), BEIR/MS MARCO qrels TSV or ir_datasets JSONL; .gz too',
    )
    .argument('<run>', 'TREC run file (qid Q0 docid rank score tag), .gz too')
    .option(
      '-m, --measures <list>',
      `measures, comma separated, repeatable: trec_eval names (map, map_cut.100, recip_rank, ndcg, ndcg_cut.5,10, P.10, recall.100,1000, success.1,5,10, Rprec, bpref, num_q, num_ret, num_rel, num_rel_ret) or ir_measures names (nDCG@10, AP, AP@100, RR@10, R@1000, P@10, Judged@10, Success@10, Bpref, AP(rel=2)); printed as given; default ${DEFAULT_MEASURES.join(',')}`,
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option(
      '-l, --level <n>',
      'minimum grade counted relevant by binary measures (trec_eval -l); nDCG keeps graded gains',
      '1',
    )
    .option(
      '-c, --all-queries',
      'average over every query in the qrels; queries missing from the run count as 0 (trec_eval -c)',
    )
    .option('-q, --per-query', 'also print each query (trec_eval -q)')
    .option('-M, --max-results <n>', 'evaluate only the top n results per query (trec_eval -M)')
    .option('-J, --judged-only', 'judged-only (condensed) lists: drop unjudged results before measuring (trec_eval -J)')
    .option('--preset <name>', `the measures of a benchmark's protocol (${PRESET_NAMES.join(', ')}), before any -m`)
    .option('--json', 'print JSON instead of trec_eval lines')
    .action(async (qrelsPath: string, runPath: string, options: MeasureOptions) => {
      const level = nonNegativeInteger('--level', options.level, 0);
      const maxResults = nonNegativeInteger('--max-results', options.maxResults, 1);
      // in columns: no object per run line (reading dominated measure's time)
      const [qrels, run] = await Promise.all([readQrels(qrelsPath), readRunColumns(runPath)]);
      const result = evaluate(qrels, run, {
        measures: resolveMeasures({ preset: options.preset, measures: options.measures }),
        level,
        allQueries: options.allQueries,
        maxResults,
        judgedOnly: options.judgedOnly,
      });
      if (options.json) {
        const out = {
          measures: result.measures,
          numQueries: result.numQueries,
          level: level ?? 1,
          allQueries: Boolean(options.allQueries),
          judgedOnly: Boolean(options.judgedOnly),
          aggregate: result.aggregate,
          ...(options.perQuery ? { perQuery: Object.fromEntries(result.perQuery) } : {}),
        };
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      } else {
        process.stdout.write(formatTrecEval(result, { perQuery: options.perQuery }));
      }
    });
}
