import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ConfigError } from '@dotrank/core';
import type { Candidate, CandidateSource, DenseEncoder, DotrankConfig, FusionMode } from '@dotrank/core';
import { findCollection, readQrels, readQueries, readRun, writeRun } from '@dotrank/datasets';
import type { CollectionFiles, Qrels, Query } from '@dotrank/datasets';
import { encoderOptionsFromConfig, loadEncoder } from '@dotrank/encoder';
import { buildMetricsReport, evaluate, measureLabel, recallCurve } from '@dotrank/eval';
import type { EvalResult, MetricsReport, PValueCorrection } from '@dotrank/eval';
import {
  DEFAULT_ALPHA,
  candidateWindowsFor,
  fuse,
  passageWindowSettingsFromConfig,
  rerankCandidates,
  warmPassages,
} from '@dotrank/rerank-core';
import type { Normalization } from '@dotrank/rerank-core';
import { MemoryVectorStore, RedisVectorStore, vectorStoreOptionsFromConfig } from '@dotrank/vector-cache';
import type { VectorStore } from '@dotrank/vector-cache';
import { createProgress } from './progress.js';
import { openFirstStage } from '@dotrank/dense';
import type { FirstStage } from '@dotrank/dense';
import { checkCorpus, corpusInput, reportCorpusLog } from './corpus-input.js';
import { defaultIndexDir, indexIfEmpty, openSourceFor } from './sources.js';
import type { OpenedSource, SourceFlags } from './sources.js';

export const EVAL_SYSTEMS = ['bm25', 'tasb', 'interpolate', 'rrf'] as const;
export type EvalSystem = (typeof EVAL_SYSTEMS)[number];

/** What the report shows by default: the model card's measures and the usual companions. */
export const EVAL_MEASURES = [
  'recip_rank_cut_10',
  'ndcg_cut_10',
  'recall_100',
  'recall_1000',
  'map',
  'P_10',
  'recip_rank',
];

export interface EvalRunOptions extends SourceFlags {
  collection: string;
  out: string;
  model?: string;
  systems: EvalSystem[];
  /** First stages to compare (default bm25); each non-BM25 one adds `<stage>` and `<stage>-<system>` runs. */
  firstStages?: FirstStage[];
  depth: number;
  level: number;
  alpha?: number;
  normalization?: Normalization;
  measures?: string[];
  /** Outside runs (TREC files) evaluated beside the systems, e.g. a published run: `name` must not be a system's. */
  runs?: { name: string; path: string }[];
  /** Correction of the p-values across the systems compared with BM25; default none. */
  correction?: PValueCorrection;
  /** Vector cache: Redis when REDIS_URL is set (shared with workers, reused across runs), else in memory. */
  cache?: 'redis' | 'memory';
  progress?: boolean;
  /** --skip-invalid: invalid corpus lines are left out (each reported) instead of failing the run. */
  skipInvalid?: boolean;
  log?: (line: string) => void;
}

export interface EvalRunSummary {
  report: MetricsReport;
  outDir: string;
  runFiles: Record<string, string>;
  timings: Record<string, number>;
}

const ms = (t0: number) => Math.round(performance.now() - t0);

type RunRows = Map<string, { docId: string; score: number }[]>;

/** What every step of an evaluation reads: the options, the collection's files and where messages go. */
interface EvalContext {
  config: DotrankConfig;
  options: EvalRunOptions;
  log: (line: string) => void;
  progress: boolean;
  timings: Record<string, number>;
  files: CollectionFiles;
  corpus: ReturnType<typeof corpusInput>;
  neural: EvalSystem[];
  firstStages: FirstStage[];
}

/** What an evaluation opens, closed at the end whatever happens. */
interface EvalResources {
  sources: Map<FirstStage, CandidateSource>;
  encoder?: DenseEncoder;
  store?: VectorStore;
}

/**
 * `dotrank eval`: check the queries and judgments, index (or reuse) the corpus, run the first stage, warm the
 * vector cache with every candidate, rerank with each system, and write `<system>.run`, `metrics.json` (with
 * significance against BM25).
 */
export async function runEvaluation(config: DotrankConfig, options: EvalRunOptions): Promise<EvalRunSummary> {
  const context = await planEvaluation(config, options);
  // every input is checked before the long work: a bad judgment line fails in seconds, not after indexing
  const { judged, qrels } = await readJudgedQueries(context.files);
  const outside = await readOutsideRuns(context);
  const opened = await openSourceFor(config, options, context.files.name);
  const resources: EvalResources = { sources: new Map([['bm25', opened.source]]) };
  try {
    const documents = await indexLexical(context, opened);
    const modelInfo = await openModel(context, resources);
    await openDenseStages(context, opened, resources, documents);
    const candidatesBy = await collectCandidates(context, resources.sources, judged);
    const runs = new Map<string, RunRows>();
    for (const [stage, perQuery] of candidatesBy) runs.set(stage, toRunRows(perQuery));
    if (context.neural.length > 0) {
      await warmCandidates(context, resources, candidatesBy);
      await rerankAll(context, resources, candidatesBy, judged, runs);
    }
    for (const [name, run] of outside) runs.set(name, run);
    return await writeOutputs(context, { qrels, runs, candidatesBy, judged: judged.length, documents, modelInfo });
  } finally {
    // closing is idempotent (a hybrid source also closes the BM25 source it wraps)
    for (const source of [...resources.sources.values()].reverse()) await source.close().catch(() => undefined);
    await resources.store?.close();
    await resources.encoder?.close();
  }
}

/** The options checked and resolved: which systems and first stages run, and that a model is there when needed. */
async function planEvaluation(config: DotrankConfig, options: EvalRunOptions): Promise<EvalContext> {
  const files = await findCollection(options.collection);
  const neural = options.systems.filter((s) => s !== 'bm25');
  const firstStages: FirstStage[] = options.firstStages?.length ? [...new Set(options.firstStages)] : ['bm25'];
  const needsModel = neural.length > 0 || firstStages.some((f) => f !== 'bm25');
  if (needsModel && !(options.model ?? config.DOTRANK_MODEL)) {
    const what = neural.length > 0 ? `systems ${neural.join(', ')}` : `--first-stage ${firstStages.join(',')}`;
    throw new ConfigError('--model', `is required for ${what} (or set DOTRANK_MODEL; --systems bm25 needs no model)`);
  }
  if (!firstStages.includes('bm25')) firstStages.unshift('bm25'); // the baseline every comparison is made against
  return {
    config,
    options,
    log: options.log ?? ((line: string) => process.stderr.write(`${line}\n`)),
    progress: options.progress ?? true,
    timings: {},
    files,
    corpus: corpusInput(files.corpus, { skipInvalid: options.skipInvalid === true }),
    neural,
    firstStages,
  };
}

/** The outside runs (--run name=path), read before the long work; a name taken by a system is refused. */
async function readOutsideRuns(context: EvalContext): Promise<Map<string, RunRows>> {
  const taken = new Set<string>(['bm25', ...context.neural, ...context.firstStages]);
  for (const stage of context.firstStages) for (const s of context.neural) taken.add(`${stage}-${s}`);
  const out = new Map<string, RunRows>();
  for (const { name, path } of context.options.runs ?? []) {
    if (taken.has(name) || out.has(name))
      throw new ConfigError(
        '--run',
        `the name "${name}" is taken (by a system or another --run); use --run other=${path}`,
      );
    const run = await readRun(path);
    out.set(
      name,
      new Map([...run].map(([qid, entries]) => [qid, entries.map((e) => ({ docId: e.docId, score: e.score }))])),
    );
    context.log(`outside run ${name}: ${run.size} queries from ${path}`);
  }
  return out;
}

/** The queries that have judgments, and the judgments; both files are read strictly. */
async function readJudgedQueries(files: CollectionFiles): Promise<{ judged: Query[]; qrels: Qrels }> {
  const [queries, qrels] = await Promise.all([readQueries(files.queries), readQrels(files.qrels)]);
  const judged = queries.filter((q) => qrels.has(q.id));
  if (judged.length === 0)
    throw new ConfigError('--collection', `no query in ${files.queries} has judgments in ${files.qrels}`);
  return { judged, qrels };
}

/** Indexes the corpus into the lexical first stage unless it already holds documents; returns the document count. */
async function indexLexical(context: EvalContext, opened: OpenedSource): Promise<number> {
  const t0 = performance.now();
  // Elasticsearch keeps what it was sent: check the corpus before the first document goes out
  if (opened.kind === 'elasticsearch' && (await opened.source.count()) === 0) await checkCorpus(context.corpus.read);
  const bar = createProgress('indexing', 0, context.progress);
  const ingest = await indexIfEmpty(opened.source, context.corpus.read, (done) => bar.update(done, done));
  bar.stop();
  const documents = await opened.source.count();
  if (ingest) {
    reportCorpusLog(context.corpus.log, context.log);
    context.log(
      `indexed ${ingest.indexed} passages into ${opened.location} (${ingest.failed} failed, ${ingest.skipped + context.corpus.log.skipped.length} skipped) in ${Math.round(ingest.durationMs)} ms`,
    );
  } else context.log(`reusing the index at ${opened.location} (${documents} passages)`);
  context.timings['indexMs'] = ms(t0);
  return documents;
}

/** Loads the encoder and opens the vector cache when a system or first stage needs the model. */
async function openModel(
  context: EvalContext,
  resources: EvalResources,
): Promise<{ id: string; revision: string } | null> {
  const { config, options, neural, firstStages } = context;
  if (neural.length === 0 && firstStages.every((f) => f === 'bm25')) return null;
  const encoder = await loadEncoder(
    resolve((options.model ?? config.DOTRANK_MODEL)!),
    encoderOptionsFromConfig(config),
  );
  resources.encoder = encoder;
  const useRedis = (options.cache ?? (config.REDIS_URL ? 'redis' : 'memory')) === 'redis';
  if (useRedis && !config.REDIS_URL) throw new ConfigError('REDIS_URL', 'must be set for --cache redis');
  resources.store = useRedis
    ? new RedisVectorStore(vectorStoreOptionsFromConfig(config, encoder))
    : new MemoryVectorStore({ dimension: encoder.dimension, maxEntries: Number.MAX_SAFE_INTEGER });
  context.log(`vector cache: ${useRedis ? 'Redis' : 'memory'}`);
  return { id: encoder.modelId, revision: encoder.revision };
}

/** Dense and hybrid first stages (the dense index is built once beside the BM25 index, then reused). */
async function openDenseStages(
  context: EvalContext,
  opened: OpenedSource,
  resources: EvalResources,
  documents: number,
): Promise<void> {
  const { config, files } = context;
  const dense = context.firstStages.filter((f) => f !== 'bm25');
  // under a windowed DOTRANK_DOC_SCORE the dense index holds window vectors and scores a document by its best window
  const windows =
    dense.length > 0
      ? await candidateWindowsFor(
          resolve((context.options.model ?? config.DOTRANK_MODEL)!),
          passageWindowSettingsFromConfig(config),
        )
      : undefined;
  for (const stage of dense) {
    const t0 = performance.now();
    const denseBar = createProgress(`dense index`, documents, context.progress);
    resources.sources.set(
      stage,
      await openFirstStage(config, {
        firstStage: stage,
        bm25: opened.source,
        encoder: resources.encoder!,
        dataDir: opened.kind === 'embedded' ? opened.location : defaultIndexDir(config, files.name),
        passages: context.corpus.read,
        ...(resources.store ? { vectorStore: resources.store } : {}),
        ...(windows ? { windows } : {}),
        onProgress: (p) => denseBar.update(p.done),
        onIndexed: (report, dir) => context.log(`dense index: ${report.indexed} passages encoded into ${dir}`),
      }),
    );
    denseBar.stop();
    context.timings[`${stage}IndexMs`] = ms(t0);
  }
}

/** Every first stage's candidates for every judged query. */
async function collectCandidates(
  context: EvalContext,
  sources: Map<FirstStage, CandidateSource>,
  judged: Query[],
): Promise<Map<FirstStage, Map<string, Candidate[]>>> {
  const candidatesBy = new Map<FirstStage, Map<string, Candidate[]>>();
  for (const [stage, source] of sources) {
    const t0 = performance.now();
    const perQuery = new Map<string, Candidate[]>();
    const searchBar = createProgress(`first stage ${stage}`, judged.length, context.progress);
    for (const [i, q] of judged.entries()) {
      perQuery.set(q.id, await source.search(q.text, { k: context.options.depth }));
      searchBar.update(i + 1);
    }
    searchBar.stop();
    candidatesBy.set(stage, perQuery);
    context.timings[`${stage}FirstStageMs`] = ms(t0);
  }
  return candidatesBy;
}

function toRunRows(perQuery: Map<string, Candidate[]>): RunRows {
  return new Map([...perQuery].map(([qid, cands]) => [qid, cands.map((c) => ({ docId: c.id, score: c.score }))]));
}

/** Encodes every candidate once into the vector cache, so reranking only encodes queries. */
async function warmCandidates(
  context: EvalContext,
  resources: EvalResources,
  candidatesBy: Map<FirstStage, Map<string, Candidate[]>>,
): Promise<void> {
  const t0 = performance.now();
  const unique = new Map<string, Candidate>();
  for (const perQuery of candidatesBy.values())
    for (const cands of perQuery.values()) for (const c of cands) unique.set(c.id, c);
  const warmBar = createProgress('encoding passages', unique.size, context.progress);
  const warmed = await warmPassages(unique.values(), {
    encoder: resources.encoder!,
    store: resources.store!,
    batchSize: context.config.DOTRANK_BATCH_SIZE,
    total: unique.size,
    onProgress: (p) => warmBar.update(p.done),
  });
  warmBar.stop();
  context.log(
    `vector cache: ${warmed.encoded} passages encoded, ${warmed.skipped} already cached${warmed.blank ? `, ${warmed.blank} blank` : ''}`,
  );
  context.timings['warmMs'] = ms(t0);
}

/** Reranks each first stage's candidates: one query encoding per query serves every fusion mode. */
async function rerankAll(
  context: EvalContext,
  resources: EvalResources,
  candidatesBy: Map<FirstStage, Map<string, Candidate[]>>,
  judged: Query[],
  runs: Map<string, RunRows>,
): Promise<void> {
  const t0 = performance.now();
  for (const [stage, perQuery] of candidatesBy) {
    const name = (s: EvalSystem) => (stage === 'bm25' ? s : `${stage}-${s}`);
    for (const s of context.neural) runs.set(name(s), new Map());
    const rerankBar = createProgress(`reranking ${stage}`, judged.length, context.progress);
    for (const [i, q] of judged.entries()) {
      const fused = await rerankQuery(context, resources, q, perQuery.get(q.id) ?? []);
      for (const s of context.neural) runs.get(name(s))!.set(q.id, fused.get(s) ?? []);
      rerankBar.update(i + 1);
    }
    rerankBar.stop();
  }
  context.timings['rerankMs'] = ms(t0);
}

/** One query's candidates fused by each neural system; candidates without text are left out, as before. */
async function rerankQuery(
  context: EvalContext,
  resources: EvalResources,
  query: Query,
  all: Candidate[],
): Promise<Map<EvalSystem, { docId: string; score: number }[]>> {
  const out = new Map<EvalSystem, { docId: string; score: number }[]>();
  const candidates = all.filter((c) => c.text.trim() !== '');
  if (candidates.length === 0) return out;
  const { options } = context;
  const base = await rerankCandidates(
    { query: query.text, candidates, fusion: 'tasb', k: candidates.length },
    { encoder: resources.encoder!, store: resources.store! },
  );
  const tasbById = new Map(base.results.map((r) => [r.id, r.tasbScore ?? r.score]));
  const columns = {
    ids: candidates.map((c) => c.id),
    scores: candidates.map((c) => c.score),
    tasbScores: candidates.map((c) => tasbById.get(c.id)!),
  };
  for (const s of context.neural) {
    const fused = fuse(columns, {
      mode: s as FusionMode,
      alpha: options.alpha ?? DEFAULT_ALPHA,
      ...(options.normalization ? { normalization: options.normalization } : {}),
    });
    out.set(
      s,
      fused.index.map((i, r) => ({ docId: candidates[i]!.id, score: fused.score[r]! })),
    );
  }
  return out;
}

/** Writes every run, metrics.json and a copy of the judgments; returns the summary. */
async function writeOutputs(
  context: EvalContext,
  data: {
    qrels: Qrels;
    runs: Map<string, RunRows>;
    candidatesBy: Map<FirstStage, Map<string, Candidate[]>>;
    judged: number;
    documents: number;
    modelInfo: { id: string; revision: string } | null;
  },
): Promise<EvalRunSummary> {
  const { options } = context;
  const outDir = resolve(options.out);
  await mkdir(outDir, { recursive: true });
  const runFiles: Record<string, string> = {};
  const results = new Map<string, EvalResult>();
  // a recall cut deeper than the runs says nothing new: leave it out of the default report
  const measures =
    options.measures ?? EVAL_MEASURES.filter((m) => !/^recall_(\d+)$/.test(m) || Number(m.slice(7)) <= options.depth);
  for (const [system, run] of data.runs) {
    const file = join(outDir, `${system}.run`);
    await writeRun(file, run, `dotrank-${system}`);
    runFiles[system] = file;
    results.set(system, evaluate(data.qrels, run, { measures, level: options.level, allQueries: true }));
  }
  const recallOptions = { level: options.level, allQueries: true, depths: recallDepths(options.depth) };
  const report = buildMetricsReport({
    collection: { name: context.files.name, queries: data.judged, documents: data.documents },
    model: data.modelInfo,
    depth: options.depth,
    level: options.level,
    baseline: 'bm25',
    measures: results.get('bm25')!.measures,
    systems: results,
    ...(options.correction ? { significance: { correction: options.correction } } : {}),
    firstStageRecall: Object.fromEntries(
      [...data.candidatesBy.keys()].map((stage) => [
        stage,
        recallCurve(data.qrels, data.runs.get(stage)!, recallOptions),
      ]),
    ),
  });
  await writeFile(join(outDir, 'metrics.json'), `${JSON.stringify(report, null, 2)}\n`);
  await writeQrelsCopy(outDir, data.qrels);
  return { report, outDir, runFiles, timings: context.timings };
}

function recallDepths(depth: number): number[] {
  const depths = [10, 20, 50, 100, 200, 500, 1000].filter((d) => d <= depth);
  return depths.includes(depth) ? depths : [...depths, depth];
}

/** The judgments travel with the output, so the dashboard's drill-down can label documents. */
async function writeQrelsCopy(outDir: string, qrels: Qrels): Promise<void> {
  const lines: string[] = [];
  for (const [qid, docs] of qrels) for (const [doc, rel] of docs) lines.push(`${qid} 0 ${doc} ${rel}`);
  await writeFile(join(outDir, 'qrels.trec'), `${lines.join('\n')}\n`);
}

/** A fixed-width table of the aggregate figures with significance markers († p < 0.05, randomization test). */
export function formatReportTable(report: MetricsReport): string {
  const measures = report.measures;
  const header = ['system', ...measures.map(measureLabel)];
  const rows = Object.entries(report.systems).map(([name, sys]) => [
    name,
    ...measures.map((m) => {
      const value = (sys.aggregate[m] ?? 0).toFixed(4);
      const p = sys.significance?.[m]?.pValueRandomization;
      return p !== undefined && p < 0.05 ? `${value}†` : value;
    }),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [
    line(header),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.map(line),
    `(${report.collection.name}: ${report.collection.queries} queries, ${report.collection.documents} passages, depth ${report.depth}; † p < 0.05 vs ${report.baseline}, paired randomization test)`,
  ].join('\n');
}
