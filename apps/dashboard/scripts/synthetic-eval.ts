// A synthetic eval output (metrics.json, runs/, qrels, queries, corpus) of any size, for exercising the dashboard
// with thousands of queries. The numbers are random (seeded), not a measurement of anything.
//   npx tsx scripts/synthetic-eval.ts <out-dir> [queries=5000]
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { mulberry32 } from '@dotrank/core';

export interface SyntheticOptions {
  queries?: number;
  documents?: number;
  /** Run rows per query and system. */
  depth?: number;
  seed?: number;
}

const round = (x: number) => Math.round(x * 1e4) / 1e4;

export async function writeSyntheticEval(
  dir: string,
  options: SyntheticOptions = {},
): Promise<{ queries: number; metricsPath: string }> {
  const nq = options.queries ?? 5000;
  const nd = options.documents ?? 2000;
  const depth = options.depth ?? 20;
  const rand = mulberry32(options.seed ?? 42);
  const measures = ['recip_rank', 'ndcg_cut.10', 'recall.100', 'recall.1000', 'map'];
  const systems = ['bm25', 'tasb'] as const;
  const perQuery: Record<(typeof systems)[number], Record<string, Record<string, number>>> = { bm25: {}, tasb: {} };
  const runs: Record<string, string[]> = { bm25: [], tasb: [] };
  const qrels: string[] = [];
  const queries: string[] = [];

  for (let q = 1; q <= nq; q++) {
    const qid = String(q);
    queries.push(JSON.stringify({ _id: qid, text: `synthetic query ${qid} about topic ${q % 97}` }));
    const relevant = new Set<string>();
    for (let j = 0; j < 3; j++) relevant.add(String(1 + Math.floor(rand() * nd)));
    for (const d of relevant) qrels.push(`${qid} 0 ${d} ${1 + Math.floor(rand() * 3)}`);
    const base = rand();
    for (const s of systems) {
      const lift = s === 'tasb' ? (rand() - 0.35) * 0.4 : 0;
      const v = (x: number) => round(Math.min(1, Math.max(0, x)));
      perQuery[s][qid] = {
        recip_rank: v(base + lift + 0.1),
        'ndcg_cut.10': v(base + lift),
        'recall.100': v(base + 0.3 + lift / 2),
        'recall.1000': v(base + 0.45),
        map: v(base * 0.8 + lift),
      };
      const docs = new Set<string>();
      for (const d of relevant) if (rand() < 0.6) docs.add(d);
      while (docs.size < depth) docs.add(String(1 + Math.floor(rand() * nd)));
      const ordered = [...docs].sort(() => rand() - 0.5);
      ordered.forEach((d, i) => runs[s]!.push(`${qid} Q0 ${d} ${i + 1} ${(s === 'bm25' ? 30 : 100) - i * 0.5} ${s}`));
    }
  }
  const mean = (s: (typeof systems)[number], m: string) =>
    round(Object.values(perQuery[s]).reduce((a, x) => a + (x[m] ?? 0), 0) / nq);
  const significance: Record<string, unknown> = {};
  for (const m of measures) {
    let wins = 0;
    let ties = 0;
    let losses = 0;
    for (const qid of Object.keys(perQuery.tasb)) {
      const d = perQuery.tasb[qid]![m]! - perQuery.bm25[qid]![m]!;
      if (d > 1e-9) wins++;
      else if (d < -1e-9) losses++;
      else ties++;
    }
    const p = m === 'recall.1000' ? 1 : m === 'map' ? 0.03 : 0.0004;
    significance[m] = {
      pValueTTest: p,
      pValueRandomization: p,
      wins,
      ties,
      losses,
      delta: round(mean('tasb', m) - mean('bm25', m)),
    };
  }
  const depths = [10, 20, 50, 100, 200, 500, 1000];
  const metrics = {
    version: 1,
    collection: { name: `synthetic-${nq}`, queries: nq, documents: nd },
    createdAt: '2026-11-24T00:00:00.000Z',
    model: { id: 'synthetic/tas-b', revision: '0000000000' },
    depth: 1000,
    level: 1,
    baseline: 'bm25',
    measures,
    systems: {
      bm25: { aggregate: Object.fromEntries(measures.map((m) => [m, mean('bm25', m)])), perQuery: perQuery.bm25 },
      tasb: {
        aggregate: Object.fromEntries(measures.map((m) => [m, mean('tasb', m)])),
        perQuery: perQuery.tasb,
        significance,
      },
    },
    firstStageRecall: { bm25: { depths, recall: depths.map((d) => round(0.35 + (0.5 * (Math.log10(d) - 1)) / 2)) } },
  };
  await mkdir(join(dir, 'runs'), { recursive: true });
  const metricsPath = join(dir, 'metrics.json');
  await writeFile(metricsPath, JSON.stringify(metrics));
  for (const s of systems) await writeFile(join(dir, 'runs', `${s}.run`), runs[s]!.join('\n') + '\n');
  await writeFile(join(dir, 'qrels.trec'), qrels.join('\n') + '\n');
  await writeFile(join(dir, 'queries.jsonl'), queries.join('\n') + '\n');
  const corpus: string[] = [];
  for (let d = 1; d <= nd; d++)
    corpus.push(JSON.stringify({ _id: String(d), title: '', text: `synthetic passage ${d} on topic ${d % 97}` }));
  await writeFile(join(dir, 'corpus.jsonl'), corpus.join('\n') + '\n');
  return { queries: nq, metricsPath };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [out, n] = process.argv.slice(2);
  if (!out) {
    process.stderr.write('usage: tsx scripts/synthetic-eval.ts <out-dir> [queries=5000]\n');
    process.exitCode = 2;
  } else {
    const { metricsPath } = await writeSyntheticEval(out, { queries: n ? Number(n) : 5000 });
    process.stdout.write(`wrote ${metricsPath}\n`);
  }
}
