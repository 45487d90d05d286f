import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Option } from 'commander';
import type { Command } from 'commander';
import { ConfigError, NotFoundError } from '@dotrank/core';
import type { Candidate, CandidateSource, DotrankConfig } from '@dotrank/core';
import { createEmbeddedSource, hasSavedIndex } from '@dotrank/bm25';
import { createElasticsearchSource } from '@dotrank/elasticsearch';
import { encoderOptionsFromConfig, loadEncoder } from '@dotrank/encoder';
import type { Encoder } from '@dotrank/encoder';
import { FIRST_STAGES, openFirstStage } from '@dotrank/dense';
import { candidateWindowsFor, passageWindowSettingsFromConfig } from '@dotrank/rerank-core';
import type { FirstStage } from '@dotrank/dense';
import { intFlag } from '../lib/flags.js';
import {
  addElasticsearchFieldOptions,
  commandConfig,
  configOption,
  givenOnCommandLine,
} from '../lib/config-options.js';
import { sourceKindOf } from '../lib/sources.js';
import type { SourceKind } from '../lib/sources.js';

interface SearchFlags {
  k: string;
  firstStage: FirstStage;
  source?: SourceKind;
  indexDir?: string;
  index?: string;
  json?: boolean;
}

/** The embedded index to search: --index-dir, else the only index under <DOTRANK_DATA_DIR>/index. */
async function embeddedIndexDir(config: DotrankConfig, flags: SearchFlags): Promise<string> {
  if (flags.indexDir) {
    const dir = resolve(flags.indexDir);
    if (!(await hasSavedIndex(dir)))
      throw new NotFoundError(
        '--index-dir',
        `no index in ${dir} (build one with: dotrank index --collection <dir> --index-dir ${flags.indexDir})`,
      );
    return dir;
  }
  const root = resolve(config.DOTRANK_DATA_DIR, 'index');
  const names = await readdir(root).catch(() => [] as string[]);
  const found: string[] = [];
  for (const name of names.sort()) if (await hasSavedIndex(join(root, name))) found.push(name);
  if (found.length === 1) return join(root, found[0]!);
  if (found.length === 0)
    throw new NotFoundError('--index-dir', `no index under ${root} (build one with: dotrank index --collection <dir>)`);
  throw new ConfigError(
    '--index-dir',
    `several indexes under ${root} (${found.join(', ')}); choose one with --index-dir`,
  );
}

async function openSource(config: DotrankConfig, flags: SearchFlags): Promise<CandidateSource> {
  const kind = sourceKindOf(config, flags);
  if (kind === 'embedded') {
    if (flags.index)
      throw new ConfigError('--index', 'names an Elasticsearch index; with the embedded source use --index-dir');
    return createEmbeddedSource({ dir: await embeddedIndexDir(config, flags) });
  }
  if (flags.indexDir)
    throw new ConfigError('--index-dir', 'is for the embedded source; with Elasticsearch use --index');
  if (!config.ELASTICSEARCH_URL && !config.ELASTICSEARCH_CLOUD_ID) {
    throw new ConfigError('ELASTICSEARCH_URL', 'must be set (or ELASTICSEARCH_CLOUD_ID) to use --source elasticsearch');
  }
  return createElasticsearchSource(config, { index: config.ELASTICSEARCH_INDEX });
}

function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

function printTable(results: Candidate[]): void {
  if (results.length === 0) {
    process.stdout.write('no results\n');
    return;
  }
  const idWidth = Math.min(24, Math.max(2, ...results.map((r) => r.id.length)));
  process.stdout.write(`${'rank'.padStart(4)}  ${'score'.padStart(9)}  ${'id'.padEnd(idWidth)}  text\n`);
  results.forEach((r, i) => {
    process.stdout.write(
      `${String(i + 1).padStart(4)}  ${r.score.toFixed(4).padStart(9)}  ${r.id.padEnd(idWidth)}  ${oneLine(r.text, 100)}\n`,
    );
  });
}

/** `dotrank search`: the first-stage top-k for one query. */
export function registerSearchCommand(program: Command): void {
  const command = program
    .command('search')
    .description('search the first-stage index (embedded BM25 by default) and print the top-k with scores')
    .argument('<query>', 'query text')
    .option('-k, --k <n>', 'how many results (1..10000)', '10')
    .addOption(
      new Option('--source <kind>', 'source (default: embedded unless ELASTICSEARCH_URL is set)').choices([
        'embedded',
        'elasticsearch',
      ]),
    )
    .option('--index-dir <dir>', 'embedded index folder (default: the only index under <DOTRANK_DATA_DIR>/index)')
    .addOption(configOption('--index <name>', 'ELASTICSEARCH_INDEX', 'Elasticsearch index'))
    .addOption(
      new Option(
        '--first-stage <kind>',
        'bm25, dense (TAS-B inner product) or hybrid (RRF of both); dense and hybrid need --model',
      )
        .choices([...FIRST_STAGES])
        .default('bm25'),
    )
    .addOption(configOption('--model <dir>', 'DOTRANK_MODEL', 'model folder for --first-stage dense|hybrid'))
    .option('--json', 'print JSON: [{rank, id, score, text}]');
  addElasticsearchFieldOptions(command).action(async (query: string, flags: SearchFlags) => {
    const config = commandConfig(command);
    // only a typed --index chooses Elasticsearch; ELASTICSEARCH_INDEX alone names the index but not the source
    if (!givenOnCommandLine(command, 'index')) delete flags.index;
    const k = intFlag('--k', flags.k, 1, 10_000)!;
    const lexical = await openSource(config, flags);
    let encoder: Encoder | undefined;
    let source: CandidateSource = lexical;
    let results: Candidate[];
    try {
      if (flags.firstStage !== 'bm25') {
        const modelDir = config.DOTRANK_MODEL;
        if (!modelDir)
          throw new ConfigError(
            '--model',
            `--first-stage ${flags.firstStage} needs a TAS-B model: pass --model <dir> or set DOTRANK_MODEL`,
          );
        encoder = await loadEncoder(resolve(modelDir), encoderOptionsFromConfig(config));
        const dataDir =
          sourceKindOf(config, flags) === 'embedded'
            ? await embeddedIndexDir(config, flags)
            : resolve(config.DOTRANK_DATA_DIR, 'index', config.ELASTICSEARCH_INDEX);
        // the dense index of passage windows under a windowed DOTRANK_DOC_SCORE, as dotrank eval builds it
        const windows = await candidateWindowsFor(resolve(modelDir), passageWindowSettingsFromConfig(config));
        source = await openFirstStage(config, {
          firstStage: flags.firstStage,
          bm25: lexical,
          encoder,
          dataDir,
          ...(windows ? { windows } : {}),
        });
        if ((await source.count()) === 0 || (flags.firstStage === 'hybrid' && (await lexical.count()) === 0)) {
          throw new NotFoundError(
            '--first-stage',
            `no dense index for this model beside ${dataDir}; build it with: dotrank eval --collection <dir> --first-stage ${flags.firstStage} --model ${modelDir}`,
          );
        }
      }
      results = await source.search(query, { k });
    } finally {
      await source.close().catch(() => undefined);
      await lexical.close().catch(() => undefined);
      await encoder?.close();
    }
    if (flags.json) {
      const out = results.map((r, i) => ({
        rank: i + 1,
        id: r.id,
        score: r.score,
        text: r.text,
        ...(r.metadata ? { metadata: r.metadata } : {}),
      }));
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    } else printTable(results);
  });
}
