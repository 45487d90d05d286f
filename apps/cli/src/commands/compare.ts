import { mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { Option } from 'commander';
import type { Command } from 'commander';
import { ValidationError } from '@dotrank/core';
import { readQrels } from '@dotrank/datasets';
import {
  COMPARISON_FORMATS,
  PRESET_NAMES,
  buildMetricsReport,
  compareRuns,
  formatComparison,
  resolveMeasures,
} from '@dotrank/eval';
import type { ComparisonFormat, PValueCorrection, SignificanceTest } from '@dotrank/eval';
import { intFlag, numberFlag } from '../lib/flags.js';
import { addQuietOption, noticeWriter } from '../lib/output.js';
import type { OutputFlags } from '../lib/output.js';
import { maxDepth, parseRunSpecs, readNamedRuns } from '../lib/run-inputs.js';

/** What compare measures when neither --measures nor --preset is given. */
export const COMPARE_DEFAULT_MEASURES = ['nDCG@10', 'RR@10', 'AP', 'R@100', 'R@1000'];

interface CompareFlags extends OutputFlags {
  baseline?: string;
  measures?: string[];
  preset?: string;
  correction: PValueCorrection;
  test: SignificanceTest;
  format: ComparisonFormat;
  out?: string;
  trials: string;
  seed: string;
  alpha: string;
  level: string;
  judgedOnly?: boolean;
  allQueries?: boolean;
}

/** `dotrank compare <qrels> <run>...`: one table of many runs with corrected significance, and metrics.json. */
export function registerCompareCommand(program: Command): void {
  const command = program
    .command('compare')
    .description(
      'compare TREC runs on one set of judgments: a table with significance against the baseline and the runs each one beats (ranx-style superscripts)',
    )
    .argument('<qrels>', 'judgments: TREC qrels, BEIR/MS MARCO qrels TSV or ir_datasets JSONL; .gz too')
    .argument('<runs...>', 'TREC runs (.gz too), each as name=path or a path (named after its file)')
    .option('--baseline <name>', 'the run the † marker compares with (default: the first)')
    .option(
      '-m, --measures <list>',
      `measures, trec_eval or ir_measures names, repeatable (default ${COMPARE_DEFAULT_MEASURES.join(',')})`,
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option('--preset <name>', `the measures of a benchmark's protocol (${PRESET_NAMES.join(', ')})`)
    .addOption(
      new Option('--correction <method>', 'multiple-testing correction')
        .choices(['holm', 'bonferroni', 'none'])
        .default('holm'),
    )
    .addOption(
      new Option('--test <test>', 'significance test').choices(['randomization', 't']).default('randomization'),
    )
    .addOption(new Option('--format <format>', 'output format').choices([...COMPARISON_FORMATS]).default('table'))
    .option('--out <file>', 'also write metrics.json (the dashboard reads it) to this file')
    .option('--trials <n>', 'randomization test trials', '10000')
    .option('--seed <n>', 'randomization test seed', '42')
    .option('--alpha <p>', 'significance level', '0.05')
    .option('-l, --level <n>', 'minimum grade counted relevant by binary measures (trec_eval -l)', '1')
    .option('-J, --judged-only', 'judged-only (condensed) lists (trec_eval -J)')
    .option(
      '-c, --all-queries',
      'every query of the qrels (runs score 0 where they have no results); default: the judged queries of any run',
    );
  addQuietOption(command).action((qrelsPath: string, specs: string[], flags: CompareFlags) =>
    runCompare(qrelsPath, specs, flags),
  );
}

async function runCompare(qrelsPath: string, specs: string[], flags: CompareFlags): Promise<void> {
  const log = noticeWriter(flags);
  const measures = resolveMeasures({ preset: flags.preset, measures: flags.measures }) ?? COMPARE_DEFAULT_MEASURES;
  const paths = parseRunSpecs(specs, 'runs');
  if (flags.baseline !== undefined && !paths.some((p) => p.name === flags.baseline))
    throw new ValidationError(
      '--baseline',
      `no run named "${flags.baseline}" (runs: ${paths.map((p) => p.name).join(', ')})`,
    );
  const options = {
    measures,
    ...(flags.baseline !== undefined ? { baseline: flags.baseline } : {}),
    test: flags.test,
    correction: flags.correction,
    trials: intFlag('--trials', flags.trials, 1, 10_000_000)!,
    seed: intFlag('--seed', flags.seed, 0, 2 ** 32 - 1)!,
    alpha: numberFlag('--alpha', flags.alpha, 0, 1)!,
    level: intFlag('--level', flags.level, 0, 1000)!,
    judgedOnly: flags.judgedOnly === true,
    allQueries: flags.allQueries === true,
  };
  const qrels = await readQrels(qrelsPath);
  const runs = await readNamedRuns(paths);
  const comparison = compareRuns(qrels, runs, options);
  process.stdout.write(formatComparison(comparison, flags.format));
  if (flags.out) {
    const report = buildMetricsReport({
      collection: { name: basename(qrelsPath), queries: comparison.queries.length, documents: 0 },
      model: null,
      depth: maxDepth(runs),
      level: options.level,
      baseline: comparison.baseline,
      measures: comparison.measures,
      systems: comparison.results,
      significanceBySystem: comparison.significance,
      significance: { trials: options.trials, seed: options.seed, correction: options.correction },
    });
    const out = resolve(flags.out);
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, `${JSON.stringify(report, null, 2)}\n`);
    log(`wrote ${out}`);
  }
}
