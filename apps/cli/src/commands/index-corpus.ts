import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname, extname, resolve } from 'node:path';
import { Option } from 'commander';
import type { Command } from 'commander';
import { ConfigError } from '@dotrank/core';
import type { CandidateSource, DotrankConfig, IndexReport } from '@dotrank/core';
import { BM25Index, EmbeddedBM25Source, createEmbeddedSource } from '@dotrank/bm25';
import { findCollection } from '@dotrank/datasets';
import type { CorpusFormat } from '@dotrank/datasets';
import { createElasticsearchSource, ensureIndex } from '@dotrank/elasticsearch';
import { numberFlag } from '../lib/flags.js';
import { createProgress } from '../lib/progress.js';
import { commandConfig, configOption, givenOnCommandLine } from '../lib/config-options.js';
import { addOutputOptions, noticeWriter, showProgress } from '../lib/output.js';
import type { OutputFlags } from '../lib/output.js';
import { checkCorpus, corpusInput, reportCorpusLog } from '../lib/corpus-input.js';
import type { CorpusReadLog } from '../lib/corpus-input.js';
import { defaultIndexDir, sourceKindOf } from '../lib/sources.js';
import type { SourceKind } from '../lib/sources.js';

interface IndexFlags extends OutputFlags {
  collection: string;
  source?: SourceKind;
  indexDir?: string;
  index?: string;
  format?: CorpusFormat;
  idField?: string;
  textField?: string;
  titleField?: string;
  k1?: string;
  b?: string;
  rebuild?: boolean;
  skipInvalid?: boolean;
  json?: boolean;
}

/** How many indexing failures are listed one by one before summarising. */
const LIST_LIMIT = 20;

/** The name an index of this collection gets by default: the folder name, or the file name without extension. */
export function collectionNameOf(path: string): string {
  const full = resolve(path);
  let name = basename(full).replace(/\.gz$/i, '');
  if (['corpus.jsonl', 'collection.tsv', 'corpus.tsv'].includes(name.toLowerCase())) return basename(dirname(full));
  name = name.slice(0, name.length - extname(name).length);
  return name || 'corpus';
}

/** Lines in the corpus file (for the progress bar total); undefined for gzip or unreadable files. */
async function countLines(file: string): Promise<number | undefined> {
  if (file.endsWith('.gz')) return undefined;
  let lines = 0;
  let last = 10;
  try {
    for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
      if (chunk.length > 0) last = chunk[chunk.length - 1]!;
    }
  } catch {
    return undefined;
  }
  return last === 10 ? lines : lines + 1;
}

async function corpusFileOf(path: string): Promise<string> {
  const s = await stat(path).catch(() => undefined);
  if (s?.isDirectory()) return (await findCollection(path, { require: ['corpus'] })).corpus;
  return path;
}

async function openTarget(
  config: DotrankConfig,
  flags: IndexFlags,
  kind: SourceKind,
  params: { k1?: number; b?: number },
): Promise<{ source: CandidateSource; location: string }> {
  if (kind === 'embedded') {
    if (flags.index)
      throw new ConfigError('--index', 'names an Elasticsearch index; with the embedded source use --index-dir');
    const dir = flags.indexDir ? resolve(flags.indexDir) : defaultIndexDir(config, collectionNameOf(flags.collection));
    // --rebuild starts empty; the saved index is replaced only when the new one is complete (see BM25Index.save)
    const source = flags.rebuild
      ? new EmbeddedBM25Source(new BM25Index(params), dir)
      : await createEmbeddedSource({ dir, ...params });
    return { source, location: dir };
  }
  if (flags.indexDir)
    throw new ConfigError('--index-dir', 'is for the embedded source; with Elasticsearch use --index');
  if (!config.ELASTICSEARCH_URL && !config.ELASTICSEARCH_CLOUD_ID) {
    throw new ConfigError('ELASTICSEARCH_URL', 'must be set (or ELASTICSEARCH_CLOUD_ID) to use --source elasticsearch');
  }
  const index = config.ELASTICSEARCH_INDEX;
  const source = createElasticsearchSource(config, { index });
  await ensureIndex(source, params);
  return { source, location: `${index} on Elasticsearch` };
}

function printReport(report: IndexReport, corpusLog: CorpusReadLog, location: string, flags: IndexFlags): void {
  const notice = noticeWriter(flags);
  const skipped = report.skipped + corpusLog.skipped.length;
  if (flags.json === true) {
    const out = {
      indexed: report.indexed,
      failed: report.failed,
      skipped,
      durationMs: Math.round(report.durationMs),
      location,
      failures: report.failures,
      malformed: corpusLog.skipped.map((m) => ({ file: m.file, line: m.line, reason: m.reason })),
      blankText: corpusLog.blank.map((p) => p.id),
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return;
  }
  for (const f of report.failures.slice(0, LIST_LIMIT)) {
    notice(
      `failed ${f.line !== undefined ? `line ${f.line} ` : ''}${f.id !== undefined ? `id ${f.id}: ` : ''}${f.reason}`,
    );
  }
  if (report.failures.length > LIST_LIMIT) notice(`... and ${report.failures.length - LIST_LIMIT} more failures`);
  const seconds = (report.durationMs / 1000).toFixed(1);
  process.stdout.write(
    `indexed ${report.indexed}, failed ${report.failed}, skipped ${skipped} in ${seconds}s -> ${location}\n`,
  );
}

/** `dotrank index`: a corpus into the embedded BM25 index (default) or Elasticsearch. */
export function registerIndexCommand(program: Command): void {
  const command = program
    .command('index')
    .description(
      'index a corpus (BEIR folder or corpus.jsonl, MS MARCO collection.tsv, JSONL/TSV) into the first-stage source',
    )
    .requiredOption('--collection <dir|file>', 'collection folder or corpus file')
    .addOption(
      new Option('--source <kind>', 'target (default: embedded unless ELASTICSEARCH_URL is set)').choices([
        'embedded',
        'elasticsearch',
      ]),
    )
    .option('--index-dir <dir>', 'embedded index folder (default: <DOTRANK_DATA_DIR>/index/<collection name>)')
    .addOption(configOption('--index <name>', 'ELASTICSEARCH_INDEX', 'Elasticsearch index'))
    .addOption(
      new Option('--format <format>', 'corpus format (default: from the file name)').choices([
        'beir',
        'msmarco',
        'jsonl',
        'tsv',
      ]),
    )
    .option('--id-field <field>', 'JSONL field holding the id (default _id, else id)')
    .option('--text-field <field>', 'JSONL field holding the text (default text)')
    .option('--title-field <field>', 'JSONL field holding the title (default title)')
    .option('--k1 <x>', 'BM25 k1 (default 1.2); fixed when the index is created')
    .option('--b <x>', 'BM25 b (default 0.75); fixed when the index is created')
    .option(
      '--rebuild',
      'embedded: replace an existing index in the folder (otherwise passages are added, same ids replaced)',
    )
    .option(
      '--skip-invalid',
      'leave invalid corpus lines out, each reported, instead of failing at the first (exit 2, nothing written)',
    )
    .option('--json', 'print the report as JSON');
  addOutputOptions(command).action(async (flags: IndexFlags) => {
    const config = commandConfig(command);
    // only a typed --index chooses Elasticsearch; ELASTICSEARCH_INDEX alone names the index but not the source
    if (!givenOnCommandLine(command, 'index')) delete flags.index;
    const k1 = numberFlag('--k1', flags.k1, 0, 100);
    const b = numberFlag('--b', flags.b, 0, 1);
    const params = { ...(k1 !== undefined ? { k1 } : {}), ...(b !== undefined ? { b } : {}) };
    const kind = sourceKindOf(config, flags);
    const file = await corpusFileOf(flags.collection);
    const corpus = corpusInput(flags.collection, {
      ...(flags.format ? { format: flags.format } : {}),
      fields: {
        ...(flags.idField ? { id: flags.idField } : {}),
        ...(flags.textField ? { text: flags.textField } : {}),
        ...(flags.titleField ? { title: flags.titleField } : {}),
      },
      skipInvalid: flags.skipInvalid === true,
    });
    // Elasticsearch keeps what it was sent: a bad corpus must fail before the first document goes out. The embedded
    // index needs no such pass: it is saved only after the whole corpus was read.
    if (kind === 'elasticsearch') await checkCorpus(corpus.read);
    const progressShown = showProgress(flags);
    const total = progressShown ? await countLines(file) : undefined;
    const { source, location } = await openTarget(config, flags, kind, params);
    const progress = createProgress(`indexing (${kind})`, total ?? 0, progressShown);
    let report: IndexReport;
    try {
      report = await source.index(corpus.read(), {
        onProgress: (p) => {
          const done = p.done + corpus.log.skipped.length;
          progress.update(done, total !== undefined ? Math.max(total, done) : undefined);
        },
      });
    } finally {
      progress.stop();
      await source.close();
    }
    reportCorpusLog(corpus.log, noticeWriter(flags));
    printReport(report, corpus.log, location, flags);
    if (report.indexed === 0 && report.failed > 0) process.exitCode = 1;
  });
}
