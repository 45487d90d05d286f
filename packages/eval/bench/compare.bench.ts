// `dotrank compare`'s engine at the issue's scale: 10 runs x 5,000 queries x 1,000 documents, 9 measures, paired
// randomization tests (10,000 trials) between every pair. Baseline: evaluating the 10 runs alone (what any tool must
// do before testing); goal: under 30 s in all. Run files are not read here (see measure.bench.ts for reading).
// Run: npm run bench:compare -w packages/eval   (BENCH_QUERIES / BENCH_DEPTH / BENCH_RUNS shrink it)
import { mulberry32 } from '@dotrank/core';
import { compareRuns } from '../src/compare-runs.js';
import { evaluate } from '../src/evaluate.js';

const RUNS = Number(process.env['BENCH_RUNS'] ?? 10);
const QUERIES = Number(process.env['BENCH_QUERIES'] ?? 5_000);
const DEPTH = Number(process.env['BENCH_DEPTH'] ?? 1_000);
const JUDGED = 30;
const MEASURES = ['nDCG@10', 'RR@10', 'AP', 'R@100', 'R@1000', 'P@10', 'Bpref', 'Success@10', 'Judged@10'];
const random = mulberry32(1);
const docIds = Array.from({ length: 5 * DEPTH }, (_, i) => `d${i}`);

const qrels = new Map<string, Map<string, number>>();
for (let q = 0; q < QUERIES; q++) {
  const docs = new Map<string, number>();
  for (let j = 0; j < JUDGED; j++) docs.set(docIds[Math.floor(random() * docIds.length)]!, Math.floor(random() * 4));
  qrels.set(`q${q}`, docs);
}
const runs = Array.from({ length: RUNS }, (_, s) => {
  const run = new Map<string, { docId: string; score: number }[]>();
  for (let q = 0; q < QUERIES; q++) {
    const judged = [...qrels.get(`q${q}`)!.keys()];
    const entries: { docId: string; score: number }[] = [];
    const used = new Set<string>();
    // better systems put more judged documents near the top
    const add = (docId: string, score: number) => {
      used.add(docId);
      entries.push({ docId, score });
    };
    for (const docId of judged) if (random() < 0.3 + s * 0.05) add(docId, 50 + random() * 50);
    for (let r = 0; entries.length < DEPTH; r++) {
      const docId = docIds[(r * 5 + q + s) % docIds.length]!;
      if (!used.has(docId)) add(docId, random() * 50);
    }
    // in rank order, as systems write their runs
    run.set(
      `q${q}`,
      entries.sort((a, b) => b.score - a.score),
    );
  }
  return { name: `run${s}`, run };
});

// the generator's garbage (gigabytes of it) is collected before timing, when the bench runs with --expose-gc as
// `npm run bench:compare` does: otherwise whichever phase comes first pays for it
const collect = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
/** CPU seconds of this process (all its threads) since `from`: less at the mercy of the load than the wall clock. */
const cpuSince = (from: NodeJS.CpuUsage): string => {
  const used = process.cpuUsage(from);
  return `${((used.user + used.system) / 1e6).toFixed(1)} s CPU`;
};
collect();
const c0 = process.cpuUsage();
const t0 = performance.now();
for (const { run } of runs) evaluate(qrels, run, { measures: MEASURES });
const evaluateMs = performance.now() - t0;
const evaluateCpu = cpuSince(c0);
collect();
const c1 = process.cpuUsage();
const t1 = performance.now();
const comparison = compareRuns(qrels, runs, { measures: MEASURES, trials: 10_000 });
const compareMs = performance.now() - t1;
const compareCpu = cpuSince(c1);
const pairs = (RUNS * (RUNS - 1)) / 2;
console.log(
  `${RUNS} runs x ${QUERIES} queries x ${DEPTH} docs, ${MEASURES.length} measures, ${pairs} pairs x 10,000 trials`,
);
console.log(`baseline: evaluate the ${RUNS} runs only         ${(evaluateMs / 1000).toFixed(1)} s (${evaluateCpu})`);
console.log(`compareRuns: evaluate + every pairwise test    ${(compareMs / 1000).toFixed(1)} s (${compareCpu})`);
console.log(
  `compare / evaluate-only = ${(compareMs / evaluateMs).toFixed(2)}x; goal < 30 s: ${compareMs < 30_000 ? 'met' : 'NOT met'}`,
);
console.log(`(best nDCG@10: ${comparison.cells[`run${RUNS - 1}`]!['nDCG@10']!.mean.toFixed(4)})`);
