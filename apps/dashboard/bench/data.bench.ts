// How much work the page does for large eval outputs, each figure beside a baseline from the same run:
//  1. per-query deltas + win/tie/loss for N queries vs JSON.parse of that metrics.json (which the page must do anyway);
//  2. rank movements of a 1,000-deep ranking (Map lookup) vs the naive indexOf per document (O(n²)).
//   npm run bench        (from apps/dashboard)
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { normaliseMetrics } from '../src/api.js';
import { perQueryDeltas, rankMovements, winTieLoss } from '../src/data.js';
import { writeSyntheticEval } from '../scripts/synthetic-eval.js';

function median(fn: () => unknown, runs = 15): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    fn();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

const line = (label: string, ms: number, baseLabel: string, baseMs: number) =>
  `${label.padEnd(44)} ${ms.toFixed(2).padStart(9)} ms   ${baseLabel.padEnd(34)} ${baseMs.toFixed(2).padStart(9)} ms   ratio ${(ms / baseMs).toFixed(3)}`;

const dir = await mkdtemp(join(tmpdir(), 'dotrank-dashboard-bench-'));
try {
  for (const n of [5_000, 50_000]) {
    const out = join(dir, String(n));
    await writeSyntheticEval(out, { queries: n, depth: 1, documents: 100 });
    const text = await readFile(join(out, 'metrics.json'), 'utf8');
    const report = normaliseMetrics(JSON.parse(text));
    const parse = median(() => JSON.parse(text));
    const deltas = median(() =>
      winTieLoss(perQueryDeltas(report.systems['tasb']!, report.systems['bm25']!, 'ndcg_cut.10')),
    );
    console.log(
      line(`deltas + w/t/l, ${n.toLocaleString('en-US')} queries`, deltas, 'JSON.parse(metrics.json)', parse),
    );
  }
  const depth = 1000;
  const base = Array.from({ length: depth }, (_, i) => `d${i}`);
  const reranked = [...base].reverse();
  const naive = median(() => reranked.map((id, i) => ({ id, move: base.indexOf(id) - i })));
  const mapped = median(() => rankMovements(base, reranked));
  console.log(line(`rankMovements, ${depth} documents`, mapped, 'naive indexOf per document', naive));
} finally {
  await rm(dir, { recursive: true, force: true });
}
