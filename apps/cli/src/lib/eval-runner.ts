import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ConfigError } from '@dotrank/core';
import type { Candidate, CandidateSource, DenseEncoder, DotrankConfig, FusionMode } from '@dotrank/core';
import { findCollection, readCorpus, readQrels, readQueries, writeRun } from '@dotrank/datasets';
import type { Qrels } from '@dotrank/datasets';
import { encoderOptionsFromConfig, loadEncoder } from '@dotrank/encoder';
import { buildMetricsReport, evaluate, measureLabel, recallCurve } from '@dotrank/eval';
import type { EvalResult, MetricsReport } from '@dotrank/eval';
import { DEFAULT_ALPHA, fuse, rerankCandidates, warmPassages } from '@dotrank/rerank-core';
import type { Normalization } from '@dotrank/rerank-core';
import { MemoryVectorStore, RedisVectorStore } from '@dotrank/vector-cache';
import type { VectorStore } from '@dotrank/vector-cache';
import { createProgress } from './progress.js';
import { openFirstStage } from '@dotrank/dense';
import type { FirstStage } from '@dotrank/dense';
import { defaultIndexDir, indexIfEmpty, openSourceFor } from './sources.js';
import type { SourceFlags } from './sources.js';

export const EVAL_SYSTEMS = ['bm25', 'tasb', 'interpolate', 'rrf'] as const;
export type EvalSystem = (typeof EVAL_SYSTEMS)[number];

/** What the report shows by default: the model card's measures and the usual companions. */
export const EVAL_MEASURES = ['recip_rank_cut_10', 'ndcg_cut_10', 'recall_100', 'recall_1000', 'map', 'P_10', 'recip_rank'];

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
  /** Vector cache: Redis when REDIS_URL is set (shared with workers, reused across runs), else in memory. */
  cache?: 'redis' | 'memory';
  progress?: boolean;
  log?: (line: string) => void;
}

export interface EvalRunSummary {
  report: MetricsReport;
  outDir: string;
  runFiles: Record<string, string>;
  timings: Record<string, number>;
}

const ms = (t0: number) => Math.round(performance.now() - t0);

/**
 * `dotrank eval`: index (or reuse) the corpus, run the first stage, warm the vector cache with every candidate,
 * rerank with each system, and write `<system>.run`, `metrics.json` (with significance against BM25).
 */
export async function runEvaluation(config: DotrankConfig, options: EvalRunOptions): Promise<EvalRunSummary> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const progress = options.progress ?? true;
  const timings: Record<string, number> = {};
  const files = await findCollection(options.collection);
  const neural = options.systems.filter((s) => s !== 'bm25');
  const firstStages: FirstStage[] = options.firstStages?.length ? [...new Set(options.firstStages)] : ['bm25'];
  const needsModel = neural.length > 0 || firstStages.some((f) => f !== 'bm25');
  const modelDir = options.model ?? config.DOTRANK_MODEL;
  if (needsModel && !modelDir) {
    const what = neural.length > 0 ? `systems ${neural.join(', ')}` : `--first-stage ${firstStages.join(',')}`;
    throw new ConfigError('--model', `is required for ${what} (or set DOTRANK_MODEL; --systems bm25 needs no model)`);
  }
  if (!firstStages.includes('bm25')) firstStages.unshift('bm25'); // the baseline every comparison is made against

  let t0 = performance.now();
  const opened = await openSourceFor(config, options, files.name);
  const sources = new Map<FirstStage, CandidateSource>([['bm25', opened.source]]);
  let encoder: DenseEncoder | undefined;
  let store: VectorStore | undefined;
  try {
    // 1. index (or reuse) the lexical first stage
    const readPassages = () => readCorpus(files.corpus, { onMalformed: (m) => log(`skipped ${m.file}:${m.line}: ${m.reason}`) });
    const bar = createProgress('indexing', 0, progress);
    const ingest = await indexIfEmpty(opened.source, readPassages, (done) => bar.update(done, done));
    bar.stop();
    const documents = await opened.source.count();
    if (ingest) log(`indexed ${ingest.indexed} passages into ${opened.location} (${ingest.failed} failed, ${ingest.skipped} skipped) in ${Math.round(ingest.durationMs)} ms`);
    else log(`reusing the index at ${opened.location} (${documents} passages)`);
    timings['indexMs'] = ms(t0);

    let modelInfo: { id: string; revision: string } | null = null;
    if (needsModel) {
      encoder = await loadEncoder(
        resolve(modelDir!),
        encoderOptionsFromConfig(config),
      );
      modelInfo = { id: encoder.modelId, revision: encoder.revision };
      const useRedis = (options.cache ?? (config.REDIS_URL ? 'redis' : 'memory')) === 'redis';
      if (useRedis && !config.REDIS_URL) throw new ConfigError('REDIS_URL', 'must be set for --cache redis');
      store = useRedis
        ? new RedisVectorStore({
            url: config.REDIS_URL!,
            keyPrefix: config.DOTRANK_KEY_PREFIX,
            modelId: encoder.modelId,
            revision: encoder.revision,
            dtype: config.DOTRANK_CACHE_DTYPE,
            ttlSeconds: config.DOTRANK_CACHE_TTL_SECONDS,
            dimension: encoder.dimension,
            fastReads: config.DOTRANK_CACHE_FAST_READS,
          })
        : new MemoryVectorStore({ dimension: encoder.dimension, maxEntries: Number.MAX_SAFE_INTEGER });
      log(`vector cache: ${useRedis ? 'Redis' : 'memory'}`);
    }

    // dense and hybrid first stages (the dense index is built once beside the BM25 index, then reused)
    for (const stage of firstStages.filter((f) => f !== 'bm25')) {
      t0 = performance.now();
      const denseBar = createProgress(`dense index`, documents, progress);
      sources.set(
        stage,
        await openFirstStage(config, {
          firstStage: stage,
          bm25: opened.source,
          encoder: encoder!,
          dataDir: opened.kind === 'embedded' ? opened.location : defaultIndexDir(config, files.name),
          passages: readPassages,
          ...(store ? { vectorStore: store } : {}),
          onProgress: (p) => denseBar.update(p.done),
          onIndexed: (report, dir) => log(`dense index: ${report.indexed} passages encoded into ${dir}`),
        }),
      );
      denseBar.stop();
      timings[`${stage}IndexMs`] = ms(t0);
    }

    const [queries, qrels] = await Promise.all([readQueries(files.queries), readQrels(files.qrels)]);
    const judged = queries.filter((q) => qrels.has(q.id));
    if (judged.length === 0) throw new ConfigError('--collection', `no query in ${files.queries} has judgments in ${files.qrels}`);

    // 2. every first stage's candidates
    const candidatesBy = new Map<FirstStage, Map<string, Candidate[]>>();
    for (const [stage, source] of sources) {
      t0 = performance.now();
      const perQuery = new Map<string, Candidate[]>();
      const searchBar = createProgress(`first stage ${stage}`, judged.length, progress);
      for (const [i, q] of judged.entries()) {
        perQuery.set(q.id, await source.search(q.text, { k: options.depth }));
        searchBar.update(i + 1);
      }
      searchBar.stop();
      candidatesBy.set(stage, perQuery);
      timings[`${stage}FirstStageMs`] = ms(t0);
    }

    const runs = new Map<string, Map<string, { docId: string; score: number }[]>>();
    const systems: string[] = [];
    const toRun = (perQuery: Map<string, Candidate[]>) => new Map([...perQuery].map(([qid, cands]) => [qid, cands.map((c) => ({ docId: c.id, score: c.score }))]));
    for (const [stage, perQuery] of candidatesBy) {
      runs.set(stage, toRun(perQuery));
      systems.push(stage);
    }

    // 3. rerank: warm every candidate once, then one query encoding per query serves all fusion modes
    if (neural.length > 0) {
      t0 = performance.now();
      const unique = new Map<string, Candidate>();
      for (const perQuery of candidatesBy.values()) for (const cands of perQuery.values()) for (const c of cands) unique.set(c.id, c);
      const warmBar = createProgress('encoding passages', unique.size, progress);
      const warmed = await warmPassages(unique.values(), {
        encoder: encoder!,
        store: store!,
        batchSize: config.DOTRANK_BATCH_SIZE,
        total: unique.size,
        onProgress: (p) => warmBar.update(p.done),
      });
      warmBar.stop();
      log(`vector cache: ${warmed.encoded} passages encoded, ${warmed.skipped} already cached${warmed.blank ? `, ${warmed.blank} blank` : ''}`);
      timings['warmMs'] = ms(t0);

      t0 = performance.now();
      for (const [stage, perQuery] of candidatesBy) {
        const name = (s: EvalSystem) => (stage === 'bm25' ? s : `${stage}-${s}`);
        for (const s of neural) {
          runs.set(name(s), new Map());
          systems.push(name(s));
        }
        const rerankBar = createProgress(`reranking ${stage}`, judged.length, progress);
        for (const [i, q] of judged.entries()) {
          const candidates = (perQuery.get(q.id) ?? []).filter((c) => c.text.trim() !== '');
          if (candidates.length > 0) {
            const base = await rerankCandidates({ query: q.text, candidates, fusion: 'tasb', k: candidates.length }, { encoder: encoder!, store: store! });
            const tasbById = new Map(base.results.map((r) => [r.id, r.tasbScore ?? r.score]));
            const inputs = candidates.map((c) => ({ id: c.id, bm25Score: c.score, tasbScore: tasbById.get(c.id)! }));
            for (const s of neural) {
              const fused = fuse(inputs, { mode: s as FusionMode, alpha: options.alpha ?? DEFAULT_ALPHA, ...(options.normalization ? { normalization: options.normalization } : {}) });
              runs.get(name(s))!.set(q.id, fused.map((f) => ({ docId: f.id, score: f.score })));
            }
          } else {
            for (const s of neural) runs.get(name(s))!.set(q.id, []);
          }
          rerankBar.update(i + 1);
        }
        rerankBar.stop();
      }
      timings['rerankMs'] = ms(t0);
    }

    // 3. write runs and metrics
    const outDir = resolve(options.out);
    await mkdir(outDir, { recursive: true });
    const runFiles: Record<string, string> = {};
    const results = new Map<string, EvalResult>();
    // a recall cut deeper than the runs says nothing new: leave it out of the default report
    const measures = options.measures ?? EVAL_MEASURES.filter((m) => !/^recall_(\d+)$/.test(m) || Number(m.slice(7)) <= options.depth);
    for (const s of systems) {
      const run = runs.get(s)!;
      const file = join(outDir, `${s}.run`);
      await writeRun(file, run, `dotrank-${s}`);
      runFiles[s] = file;
      results.set(s, evaluate(qrels, run, { measures, level: options.level, allQueries: true }));
    }
    const report = buildMetricsReport({
      collection: { name: files.name, queries: judged.length, documents },
      model: modelInfo,
      depth: options.depth,
      level: options.level,
      baseline: 'bm25',
      measures: results.get('bm25')!.measures,
      systems: results,
      firstStageRecall: Object.fromEntries(
        [...candidatesBy.keys()].map((stage) => [stage, recallCurve(qrels, runs.get(stage)!, { level: options.level, allQueries: true, depths: recallDepths(options.depth) })]),
      ),
    });
    await writeFile(join(outDir, 'metrics.json'), `${JSON.stringify(report, null, 2)}\n`);
    await writeQrelsCopy(outDir, qrels);
    return { report, outDir, runFiles, timings };
  } finally {
    // closing is idempotent (a hybrid source also closes the BM25 source it wraps)
    for (const source of [...sources.values()].reverse()) await source.close().catch(() => undefined);
    await store?.close();
    await encoder?.close();
  }
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
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [
    line(header),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.map(line),
    `(${report.collection.name}: ${report.collection.queries} queries, ${report.collection.documents} passages, depth ${report.depth}; † p < 0.05 vs ${report.baseline}, paired randomization test)`,
  ].join('\n');
}
