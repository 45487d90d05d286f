// `dotrank measure` throughput against trec_eval 9.0.8 on the same files, side by side: read the qrels and the run,
// evaluate, print. trec_eval is not part of this repository: give its path in TREC_EVAL (default
// /tmp/trec_eval/trec_eval, where a hand build goes); without it the comparison is skipped and says why.
// Run: npm run bench:measure -w packages/eval   (BENCH_QUERIES / BENCH_DEPTH shrink it)
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { mulberry32 } from '@dotrank/core';
import { readQrels, readRunColumns } from '@dotrank/datasets';
import { evaluate } from '../src/evaluate.js';
import { formatTrecEval } from '../src/format.js';

const QUERIES = Number(process.env['BENCH_QUERIES'] ?? 2_000);
const DEPTH = Number(process.env['BENCH_DEPTH'] ?? 1_000);
const MEASURES = ['map', 'recip_rank', 'P.10', 'ndcg_cut.10', 'recall.100,1000', 'bpref', 'success.10', 'map_cut.100'];
const trecEval = process.env['TREC_EVAL'] ?? '/tmp/trec_eval/trec_eval';
const run = promisify(execFile);
const random = mulberry32(3);

const dir = await mkdtemp(join(tmpdir(), 'dotrank-measure-bench-'));
try {
  const qrelsFile = join(dir, 'qrels.txt');
  const runFile = join(dir, 'run.txt');
  // the generated lines go out of scope before timing: the heap holds what `dotrank measure` would hold, no more
  const writeFiles = async (): Promise<number> => {
    const qrelsLines: string[] = [];
    const runLines: string[] = [];
    for (let q = 0; q < QUERIES; q++) {
      for (let j = 0; j < 30; j++)
        qrelsLines.push(`${q} 0 d${Math.floor(random() * DEPTH * 2)}_${q % 7} ${Math.floor(random() * 4)}`);
      const seen = new Set<string>();
      for (let r = 0; r < DEPTH; r++) {
        const doc = `d${r * 2 + Math.floor(random() * 2)}_${q % 7}`;
        if (seen.has(doc)) continue;
        seen.add(doc);
        runLines.push(`${q} Q0 ${doc} ${r + 1} ${(DEPTH - r + random()).toFixed(4)} bench`);
      }
    }
    await writeFile(
      qrelsFile,
      `${[...new Set(qrelsLines.map((l) => l.split(' ').slice(0, 3).join(' ')))].map((k) => `${k} ${Math.floor(random() * 4)}`).join('\n')}\n`,
    );
    await writeFile(runFile, `${runLines.join('\n')}\n`);
    return runLines.length;
  };
  const lines = await writeFiles();

  const collect = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
  const median = async (fn: () => Promise<unknown>, reps = 3): Promise<number> => {
    const times: number[] = [];
    for (let i = 0; i < reps; i++) {
      collect(); // with --expose-gc (npm run bench:measure): the previous repetition's garbage is not timed
      const t = performance.now();
      await fn();
      times.push(performance.now() - t);
    }
    return times.sort((a, b) => a - b)[Math.floor(reps / 2)]!;
  };
  const ours = await median(async () => {
    const [qrels, r] = await Promise.all([readQrels(qrelsFile), readRunColumns(runFile)]); // as `dotrank measure` reads it
    formatTrecEval(evaluate(qrels, r, { measures: MEASURES }), { perQuery: true });
  });
  const rate = (ms: number) => `${Math.round(lines / (ms / 1000)).toLocaleString('en-US')} lines/s`;
  console.log(
    `${QUERIES} queries x ${DEPTH} results (${lines.toLocaleString('en-US')} run lines), -q, ${MEASURES.join(' ')}`,
  );
  console.log(`dotrank measure (read + evaluate + print, in process)  ${(ours / 1000).toFixed(2)} s  ${rate(ours)}`);
  const cli = fileURLToPath(new URL('../../../apps/cli/bin/dotrank.js', import.meta.url));
  const args = MEASURES.flatMap((m) => ['-m', m]);
  const cliMs = await median(
    () => run(process.execPath, [cli, 'measure', '-q', ...args, qrelsFile, runFile], { maxBuffer: 1 << 30 }),
    1,
  );
  // the launcher runs the compiled CLI under NODE_ENV=production (as installed from npm: `npm run build` first), else
  // the TypeScript sources through tsx, whose start-up costs most of a second
  const compiled =
    existsSync(fileURLToPath(new URL('../../../apps/cli/dist/main.js', import.meta.url))) &&
    process.env['NODE_ENV'] === 'production';
  console.log(
    `dotrank measure (the CLI, process start included)     ${(cliMs / 1000).toFixed(2)} s  ${rate(cliMs)}  [${compiled ? 'compiled dist/' : 'TypeScript sources through tsx; NODE_ENV=production after `npm run build` runs dist/'}]`,
  );
  if (!existsSync(trecEval)) {
    console.log(`trec_eval: skipped (no binary at ${trecEval}; set TREC_EVAL to a trec_eval 9.0.8 build)`);
  } else {
    const theirs = await median(() => run(trecEval, ['-q', ...args, qrelsFile, runFile], { maxBuffer: 1 << 30 }));
    console.log(`trec_eval 9.0.8 (${trecEval})  ${(theirs / 1000).toFixed(2)} s  ${rate(theirs)}`);
    console.log(
      `throughput vs trec_eval: in process ${(theirs / ours).toFixed(2)}x, CLI ${(theirs / cliMs).toFixed(2)}x (goal >= 1x)`,
    );
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
