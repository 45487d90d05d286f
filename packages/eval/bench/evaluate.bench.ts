// evaluate() throughput against its floor: the trec_eval re-sort of every query's results alone. One run, side by side.
// Run: npm run bench -w packages/eval   (or: npx tsx --conditions=@dotrank/source bench/evaluate.bench.ts)
import { compareTrecOrder } from '@dotrank/datasets';
import { mulberry32 } from '@dotrank/core';
import { evaluate } from '../src/evaluate.js';
import { pairedTTest, randomizationTest } from '../src/significance.js';

const QUERIES = 2_000;
const DEPTH = 1_000;
const JUDGED = 20;
const random = mulberry32(1);

const qrels = new Map<string, Map<string, number>>();
const run = new Map<string, { docId: string; score: number }[]>();
for (let q = 0; q < QUERIES; q++) {
  const docs = new Map<string, number>();
  for (let j = 0; j < JUDGED; j++) docs.set(`d${Math.floor(random() * 5 * DEPTH)}`, Math.floor(random() * 4));
  qrels.set(`q${q}`, docs);
  const entries = [];
  for (let r = 0; r < DEPTH; r++)
    entries.push({ docId: `d${r * 5 + Math.floor(random() * 5)}`, score: Math.round(random() * 1e4) / 100 });
  run.set(`q${q}`, entries);
}

function median(fn: () => void, reps = 5): number {
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const start = performance.now();
    fn();
    times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b)[Math.floor(reps / 2)]!;
}

const sortMs = median(() => {
  for (const entries of run.values()) [...entries].sort(compareTrecOrder);
});
const evalMs = median(() => evaluate(qrels, run));
const lines = QUERIES * DEPTH;
console.log(
  `baseline: trec_eval re-sort only       ${sortMs.toFixed(0)} ms  (${Math.round(lines / (sortMs / 1000)).toLocaleString('en-US')} results/s)`,
);
console.log(
  `evaluate(), 12 default measures        ${evalMs.toFixed(0)} ms  (${Math.round(lines / (evalMs / 1000)).toLocaleString('en-US')} results/s)`,
);
console.log(
  `evaluate / re-sort time = ${(evalMs / sortMs).toFixed(2)}x   (${QUERIES} queries x ${DEPTH} results, median of 5)`,
);

const a = Array.from({ length: 7000 }, () => random());
const b = a.map((x) => x + (random() - 0.45) * 0.1);
const tMs = median(() => pairedTTest(a, b));
const rMs = median(() => randomizationTest(a, b, { trials: 10_000 }), 3);
console.log(`paired t-test, 7000 queries            ${tMs.toFixed(2)} ms`);
console.log(`randomization test, 7000 q x 10000     ${rMs.toFixed(0)} ms  (${(rMs / tMs).toFixed(0)}x the t-test)`);
