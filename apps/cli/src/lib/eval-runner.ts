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
  docScoreName,
  fuse,
  parseDocScore,
  passageWindowSettingsFromConfig,
  rerankCandidates,
  warmPassages,
} from '@dotrank/rerank-core';
import type { CandidateWindows, Normalization } from '@dotrank/rerank-core';
import {
  MemoryVectorStore,
  RedisVectorStore,
  createRedisConnection,
  vectorStoreOptionsFromConfig,
} from '@dotrank/vector-cache';
import type { RedisClient, VectorStore } from '@dotrank/vector-cache';
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

/**
 * Beside the usual measures, by default: how much of each system's top 10 is judged (ir_measures `Judged@10`) and
 * the main measures on condensed lists (trec_eval `-J`: unjudged documents removed, ranks closing up; Sakai's nDCG'
 * and AP'), so qrels pooled from one system (the Judge tab's, say) do not count another's unjudged documents as
 * misses. Keys of metrics.json -> what computes them.
 */
export const JUDGED_COVERAGE = 'Judged@10';
export const CONDENSED_MEASURES: Readonly<Record<string, string>> = { ndcg_cut_10_J: 'ndcg_cut_10', map_J: 'map' };
const JUDGED_LABELS: Readonly<Record<string, string>> = {
  [JUDGED_COVERAGE]: 'Judged@10',
  ndcg_cut_10_J: 'nDCG@10 -J',
  map_J: 'MAP -J',
};

export interface EvalRunOptions extends SourceFlags {
  collection: string;
  out: string;
  model?: string;
  systems: EvalSystem[];
  /**
   * Document scores to compare (DOTRANK_DOC_SCORE names; default the configured one): every reranking system runs once
   * per doc-score, named `<system>` under `first` and `<system>-<doc-score>` otherwise (see docScoreSystemSuffix).
   */
  docScores?: string[];
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
  /** Judged@10 and the condensed (-J) measures beside the usual ones (default true; --no-judged leaves them out). */
  judged?: boolean;
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

/** A document's best passage window, as a windowed rerank reports it. */
type BestPassage = { text: string; start: number; end: number; score: number };
/** Per query, per document: its best passage (only systems scored from windows have them). */
type RunPassages = Map<string, Map<string, BestPassage>>;

/** The passages written beside each windowed system's run: the top of every query. */
const PASSAGES_PER_QUERY = 10;

/**
 * The suffix a doc-score adds to system names: none for `first` (today's names), else `-<name>` with the `:` of
 * `kmax:K` left out (`tasb-maxp`, `tasb-kmax2`), since run names are file names and URL segments.
 */
export function docScoreSystemSuffix(docScore: string): string {
  const name = docScoreName(parseDocScore(docScore, '--doc-score'));
  return name === 'first' ? '' : `-${name.replace(':', '')}`;
}

/** One doc-score to evaluate: its name, the suffix of its systems and its window splitter (none under `first`). */
interface DocScoreVariant {
  name: string;
  suffix: string;
  windows?: CandidateWindows;
}

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
  /** The doc-scores every neural system runs under (one, `first`, when no windows are asked for). */
  docScores: DocScoreVariant[];
}

/** What an evaluation opens, closed at the end whatever happens. */
interface EvalResources {
  sources: Map<FirstStage, CandidateSource>;
  encoder?: DenseEncoder;
  store?: VectorStore;
  /** The query vectors' shared tier (with --cache redis): a later eval of the same queries encodes none. */
  queryRedis?: RedisClient;
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
    const passages = new Map<string, RunPassages>();
    for (const [stage, perQuery] of candidatesBy) runs.set(stage, toRunRows(perQuery));
    if (context.neural.length > 0) {
      await warmCandidates(context, resources, candidatesBy);
      await rerankAll(context, resources, candidatesBy, judged, { runs, passages });
    }
    for (const [name, run] of outside) runs.set(name, run);
    return await writeOutputs(context, {
      qrels,
      runs,
      passages,
      candidatesBy,
      judged: judged.length,
      documents,
      modelInfo,
    });
  } finally {
    // closing is idempotent (a hybrid source also closes the BM25 source it wraps)
    for (const source of [...resources.sources.values()].reverse()) await source.close().catch(() => undefined);
    await resources.store?.close();
    await resources.encoder?.close();
    await resources.queryRedis?.quit().catch(() => undefined);
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
  const docScores = await planDocScores(config, options, neural.length > 0);
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
    docScores,
  };
}

/** The --doc-score list checked (names, duplicates) and each windowed one's splitter built from the model's tokenizer. */
async function planDocScores(
  config: DotrankConfig,
  options: EvalRunOptions,
  hasNeural: boolean,
): Promise<DocScoreVariant[]> {
  const names = options.docScores?.length ? options.docScores : [config.DOTRANK_DOC_SCORE];
  const variants: DocScoreVariant[] = [];
  const seen = new Set<string>();
  for (const given of names) {
    const name = docScoreName(parseDocScore(given, '--doc-score'));
    if (seen.has(name)) throw new ConfigError('--doc-score', `names "${name}" twice`);
    seen.add(name);
    const windows =
      hasNeural && name !== 'first'
        ? await candidateWindowsFor(resolve((options.model ?? config.DOTRANK_MODEL)!), {
            ...passageWindowSettingsFromConfig(config),
            docScore: name,
          })
        : undefined;
    variants.push({ name, suffix: docScoreSystemSuffix(name), ...(windows ? { windows } : {}) });
  }
  return variants;
}

/** Every neural run's name: `[<stage>-]<system>[-<doc-score>]`. */
function neuralRunName(stage: FirstStage, system: EvalSystem, variant: DocScoreVariant): string {
  return `${stage === 'bm25' ? '' : `${stage}-`}${system}${variant.suffix}`;
}

/** The outside runs (--run name=path), read before the long work; a name taken by a system is refused. */
async function readOutsideRuns(context: EvalContext): Promise<Map<string, RunRows>> {
  const taken = new Set<string>(['bm25', ...context.firstStages]);
  for (const stage of context.firstStages)
    for (const s of context.neural) for (const v of context.docScores) taken.add(neuralRunName(stage, s, v));
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
  const useRedis = (options.cache ?? (config.REDIS_URL ? 'redis' : 'memory')) === 'redis';
  if (useRedis && !config.REDIS_URL) throw new ConfigError('REDIS_URL', 'must be set for --cache redis');
  // query vectors are shared through Redis beside the passage vectors, as the API and the workers share them
  if (useRedis) resources.queryRedis = createRedisConnection(config.REDIS_URL!);
  const encoder = await loadEncoder(
    resolve((options.model ?? config.DOTRANK_MODEL)!),
    encoderOptionsFromConfig(config, {}, resources.queryRedis),
  );
  resources.encoder = encoder;
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
  // every windowed doc-score splits texts alike (same window sizes): their windows are warmed once
  const splitters = [
    ...(context.docScores.some((v) => !v.windows) ? [undefined] : []),
    ...context.docScores.filter((v) => v.windows).slice(0, 1),
  ];
  for (const variant of splitters) {
    const what = variant ? 'passage windows' : 'passages';
    const warmBar = createProgress(`encoding ${what}`, unique.size, context.progress);
    const warmed = await warmPassages(unique.values(), {
      encoder: resources.encoder!,
      store: resources.store!,
      batchSize: context.config.DOTRANK_BATCH_SIZE,
      total: unique.size,
      ...(variant?.windows ? { windows: variant.windows } : {}),
      onProgress: (p) => warmBar.update(p.done),
    });
    warmBar.stop();
    context.log(
      `vector cache: ${warmed.encoded} ${what} encoded, ${warmed.skipped} already cached${warmed.blank ? `, ${warmed.blank} blank` : ''}`,
    );
  }
  context.timings['warmMs'] = ms(t0);
}

/** Reranks each first stage's candidates: one query encoding per query serves every fusion mode. */
async function rerankAll(
  context: EvalContext,
  resources: EvalResources,
  candidatesBy: Map<FirstStage, Map<string, Candidate[]>>,
  judged: Query[],
  out: { runs: Map<string, RunRows>; passages: Map<string, RunPassages> },
): Promise<void> {
  const t0 = performance.now();
  for (const [stage, perQuery] of candidatesBy)
    for (const variant of context.docScores) {
      const name = (s: EvalSystem) => neuralRunName(stage, s, variant);
      for (const s of context.neural) out.runs.set(name(s), new Map());
      const label = `reranking ${stage}${variant.suffix ? ` (${variant.name})` : ''}`;
      const rerankBar = createProgress(label, judged.length, context.progress);
      for (const [i, q] of judged.entries()) {
        const { fused, passages } = await rerankQuery(context, resources, variant, q, perQuery.get(q.id) ?? []);
        for (const s of context.neural) {
          out.runs.get(name(s))!.set(q.id, fused.get(s) ?? []);
          if (passages.size === 0) continue;
          if (!out.passages.has(name(s))) out.passages.set(name(s), new Map());
          out.passages.get(name(s))!.set(q.id, passages);
        }
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
  variant: DocScoreVariant,
  query: Query,
  all: Candidate[],
): Promise<{ fused: Map<EvalSystem, { docId: string; score: number }[]>; passages: Map<string, BestPassage> }> {
  const out = new Map<EvalSystem, { docId: string; score: number }[]>();
  const passages = new Map<string, BestPassage>();
  const candidates = all.filter((c) => c.text.trim() !== '');
  if (candidates.length === 0) return { fused: out, passages };
  const { options } = context;
  // under a windowed doc-score the TAS-B score is the document's (its windows aggregated); fusions use it as is
  const base = await rerankCandidates(
    { query: query.text, candidates, fusion: 'tasb', k: candidates.length },
    { encoder: resources.encoder!, store: resources.store!, ...(variant.windows ? { windows: variant.windows } : {}) },
  );
  const tasbById = new Map(base.results.map((r) => [r.id, r.tasbScore ?? r.score]));
  for (const r of base.results) if (r.passage) passages.set(r.id, r.passage);
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
  return { fused: out, passages };
}

/** Writes every run, metrics.json and a copy of the judgments; returns the summary. */
async function writeOutputs(
  context: EvalContext,
  data: {
    qrels: Qrels;
    runs: Map<string, RunRows>;
    passages: Map<string, RunPassages>;
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
    const passages = data.passages.get(system);
    if (passages) await writePassages(join(outDir, `${system}.passages.jsonl`), run, passages);
    const result = evaluate(data.qrels, run, { measures, level: options.level, allQueries: true });
    results.set(system, options.judged === false ? result : withJudgedMeasures(data.qrels, run, result, options.level));
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

/**
 * One system's result with Judged@10 (of the run as it is) and the condensed measures (the same run under -J) added
 * after the usual ones; every query of the qrels is evaluated (-c), as for the usual measures.
 */
export function withJudgedMeasures(qrels: Qrels, run: RunRows, result: EvalResult, level: number): EvalResult {
  const coverage = evaluate(qrels, run, { measures: [JUDGED_COVERAGE], level, allQueries: true });
  const condensed = evaluate(qrels, run, {
    measures: [...new Set(Object.values(CONDENSED_MEASURES))],
    level,
    allQueries: true,
    judgedOnly: true,
  });
  const extra = (values: Record<string, number> | undefined, from: Record<string, number> | undefined) => ({
    ...values,
    [JUDGED_COVERAGE]: from?.[JUDGED_COVERAGE] ?? 0,
  });
  const added = (c: Record<string, number> | undefined) =>
    Object.fromEntries(Object.entries(CONDENSED_MEASURES).map(([key, measure]) => [key, c?.[measure] ?? 0]));
  const perQuery = new Map<string, Record<string, number>>();
  for (const [qid, values] of result.perQuery)
    perQuery.set(qid, {
      ...extra(values, coverage.perQuery.get(qid)),
      ...added(condensed.perQuery.get(qid)),
    });
  return {
    ...result,
    measures: [...new Set([...result.measures, JUDGED_COVERAGE, ...Object.keys(CONDENSED_MEASURES)])],
    perQuery,
    aggregate: { ...extra(result.aggregate, coverage.aggregate), ...added(condensed.aggregate) },
  };
}

/**
 * `<system>.passages.jsonl` beside a windowed system's run: for each query's top documents (run order), the best
 * passage window, one JSON line each: {qid, docid, text, start, end, score} (start/end in UTF-16 code units).
 */
export async function writePassages(file: string, run: RunRows, passages: RunPassages): Promise<void> {
  const lines: string[] = [];
  for (const [qid, rows] of run) {
    const byDoc = passages.get(qid);
    if (!byDoc) continue;
    for (const row of rows.slice(0, PASSAGES_PER_QUERY)) {
      const p = byDoc.get(row.docId);
      if (p) lines.push(passageLine(qid, row.docId, p));
    }
  }
  await writeFile(file, lines.length > 0 ? `${lines.join('\n')}\n` : '');
}

/** One line of a passages file. */
export function passageLine(qid: string, docid: string, p: BestPassage): string {
  return JSON.stringify({ qid, docid, text: p.text, start: p.start, end: p.end, score: p.score });
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

/**
 * A fixed-width table of the aggregate figures with significance markers († p < 0.05, randomization test); Judged@10
 * and the condensed (-J) measures follow in a block of their own, so the usual table keeps its width.
 */
export function formatReportTable(report: MetricsReport): string {
  const judged = report.measures.filter((m) => m in JUDGED_LABELS);
  const usual = report.measures.filter((m) => !(m in JUDGED_LABELS));
  const lines = [
    ...tableLines(report, usual, 'system'),
    `(${report.collection.name}: ${report.collection.queries} queries, ${report.collection.documents} passages, depth ${report.depth}; † p < 0.05 vs ${report.baseline}, paired randomization test)`,
  ];
  if (judged.length > 0)
    lines.push(
      '',
      ...tableLines(report, judged, 'judged-only'),
      '(Judged@10: share of the top 10 with a judgment; -J: unjudged documents removed before measuring, as trec_eval -J)',
    );
  return lines.join('\n');
}

function tableLines(report: MetricsReport, measures: string[], corner: string): string[] {
  const header = [corner, ...measures.map((m) => JUDGED_LABELS[m] ?? measureLabel(m))];
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
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}
