// Reader throughput against a bare baseline (readline + JSON.parse / split, no validation), one run, side by side.
// Run: npm run bench -w packages/datasets   (or: npx tsx --conditions=@dotrank/source bench/read.bench.ts)
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { readCorpus } from '../src/corpus.js';
import { readRun } from '../src/trec.js';

const DOCS = 200_000;
const RUN_QUERIES = 1_000;
const RUN_DEPTH = 1_000;

async function time(label: string, fn: () => Promise<number>): Promise<number> {
  const start = performance.now();
  const n = await fn();
  const seconds = (performance.now() - start) / 1000;
  const rate = n / seconds;
  console.log(`${label.padEnd(44)} ${n} lines in ${seconds.toFixed(2)} s = ${Math.round(rate).toLocaleString('en-US')} lines/s`);
  return rate;
}

async function rawLines(path: string, each: (line: string) => void): Promise<number> {
  let n = 0;
  for await (const line of createInterface({ input: createReadStream(path), crlfDelay: Infinity })) {
    each(line);
    n++;
  }
  return n;
}

const dir = await mkdtemp(join(tmpdir(), 'dotrank-bench-'));
try {
  const words = 'boundary layer flow supersonic heat transfer wing shock pressure plate'.split(' ');
  const lines: string[] = [];
  for (let i = 0; i < DOCS; i++) {
    const text = Array.from({ length: 60 }, (_, j) => words[(i + j * 7) % words.length]).join(' ');
    lines.push(JSON.stringify({ _id: `doc${i}`, title: `title ${i}`, text, year: 1960 + (i % 10) }));
  }
  const corpus = join(dir, 'corpus.jsonl');
  await writeFile(corpus, `${lines.join('\n')}\n`);
  const runLines: string[] = [];
  for (let q = 0; q < RUN_QUERIES; q++) {
    for (let r = 0; r < RUN_DEPTH; r++) runLines.push(`${q} Q0 doc${(q * 31 + r) % DOCS} ${r + 1} ${(100 - r * 0.01).toFixed(4)} bm25`);
  }
  const runFile = join(dir, 'run.trec');
  await writeFile(runFile, `${runLines.join('\n')}\n`);

  const baseCorpus = await time('baseline: readline + JSON.parse', () => rawLines(corpus, (l) => JSON.parse(l)));
  const ours = await time('readCorpus (validated Passage objects)', async () => {
    let n = 0;
    for await (const _ of readCorpus(corpus)) n++;
    return n;
  });
  console.log(`readCorpus / baseline = ${(ours / baseCorpus).toFixed(2)}x`);

  const baseRun = await time('baseline: readline + split', () => rawLines(runFile, (l) => l.split(' ')));
  const oursRun = await time('readRun (parsed, duplicate-checked)', async () => {
    const run = await readRun(runFile);
    let n = 0;
    for (const entries of run.values()) n += entries.length;
    return n;
  });
  console.log(`readRun / baseline = ${(oursRun / baseRun).toFixed(2)}x`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
