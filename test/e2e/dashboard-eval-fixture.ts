// Stand-in for `dotrank eval` while that command is being written: the same building blocks (embedded BM25, the
// in-process TAS-B reranker, @dotrank/eval measures and report) produce metrics.json and runs/<system>.run.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CandidateSource } from '@dotrank/core';
import { readQrels, readQueries, writeRun } from '@dotrank/datasets';
import { buildMetricsReport, evaluate, recallCurve } from '@dotrank/eval';
import type { InProcessReranker } from '@dotrank/rerank-core';

export interface CranfieldEvalInput {
  collectionDir: string;
  out: string;
  source: CandidateSource;
  reranker: InProcessReranker;
  modelId: string;
  revision: string;
  /** Candidates reranked per query (default 100). */
  depth?: number;
}

export async function produceCranfieldEval(input: CranfieldEvalInput): Promise<void> {
  const depth = input.depth ?? 100;
  const queries = await readQueries(input.collectionDir);
  const qrels = await readQrels(input.collectionDir);
  const firstStage = new Map<string, { docId: string; score: number }[]>();
  const bm25 = new Map<string, { docId: string; score: number }[]>();
  const tasb = new Map<string, { docId: string; score: number }[]>();
  for (const q of queries) {
    const candidates = await input.source.search(q.text, { k: 1000 });
    firstStage.set(q.id, candidates.map((c) => ({ docId: c.id, score: c.score })));
    const top = candidates.slice(0, depth);
    bm25.set(q.id, top.map((c) => ({ docId: c.id, score: c.score })));
    const reranked = top.length ? await input.reranker.rerank({ query: q.text, candidates: top, fusion: 'tasb' }) : { results: [] };
    tasb.set(q.id, reranked.results.map((r) => ({ docId: r.id, score: r.score })));
  }
  const report = buildMetricsReport({
    collection: { name: 'cranfield', queries: queries.length, documents: await input.source.count() },
    model: { id: input.modelId, revision: input.revision },
    depth,
    level: 1,
    systems: { bm25: evaluate(qrels, bm25), tasb: evaluate(qrels, tasb) },
    firstStageRecall: { bm25: recallCurve(qrels, firstStage) },
    significance: { trials: 2000, seed: 42 },
  });
  await mkdir(join(input.out, 'runs'), { recursive: true });
  await writeFile(join(input.out, 'metrics.json'), JSON.stringify(report, null, 2));
  await writeRun(join(input.out, 'runs', 'bm25.run'), bm25, 'bm25');
  await writeRun(join(input.out, 'runs', 'tasb.run'), tasb, 'tasb');
}
