/**
 * Embedded BM25 vs Lucene 8 (tools/lucene-ref) on the same corpus and queries, in one run:
 *   - Cranfield (1,400 docs, 225 queries), top-1000
 *   - a synthetic ~200k-doc corpus built from Cranfield (each document copied with words dropped and replaced),
 *     same 225 queries, top-1000: shows dynamic pruning at scale
 * Prints index time, queries/s and bytes per posting for both, with ratios. Times are given as wall time and as
 * CPU time (ours: process user+system; Lucene: the indexing/searching thread), since wall time on a shared
 * machine measures the other load as much as the engines. Also checks the top-1000 of both agree.
 *
 *   npm run bench -w packages/bm25           (from the repository root)
 *   BENCH_COPIES=50 npm run bench ...        (smaller synthetic corpus)
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BM25Index } from '../src/bm25-index.js';
import { repoPath, seededRandom } from '@dotrank/core/testing';

const here = dirname(fileURLToPath(import.meta.url));
const luceneRef = resolve(here, '../../../tools/lucene-ref/run.sh');
const work = join(tmpdir(), 'dotrank-bm25-bench');
const WARMUP = 2;
const REPEAT = 3;
const K = 1000;

interface Doc {
  _id: string;
  title?: string;
  text: string;
}

/** CPU seconds this process used so far (user + system): robust to other load on the machine, unlike wall time. */
function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function readJsonl<T>(path: string): T[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);
}

function lucene(args: string[]): Record<string, number> {
  const r = spawnSync(luceneRef, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`lucene-ref ${args[0]} failed: ${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as Record<string, number>;
}

/** Cranfield copied `copies` times; in each copy every word is kept (70%), dropped (15%) or replaced by a word drawn from the corpus (15%). */
async function writeSynthetic(docs: Doc[], copies: number, path: string): Promise<void> {
  if (existsSync(path)) return;
  const next = seededRandom(2026);
  const pool = docs.flatMap((d) => `${d.title ?? ''} ${d.text}`.split(/\s+/).filter(Boolean));
  const out = createWriteStream(`${path}.tmp`);
  for (let c = 0; c < copies; c++) {
    for (const d of docs) {
      const words = `${d.title ?? ''} ${d.text}`.split(/\s+/).filter(Boolean);
      const kept: string[] = [];
      for (const w of words) {
        const r = next();
        if (r < 0.7) kept.push(w);
        else if (r >= 0.85) kept.push(pool[Math.floor(next() * pool.length)]!);
      }
      if (!out.write(`${JSON.stringify({ _id: `${d._id}-${c}`, text: kept.join(' ') })}\n`)) await once(out, 'drain');
    }
  }
  out.end();
  await once(out, 'finish');
  const { rename } = await import('node:fs/promises');
  await rename(`${path}.tmp`, path);
}

async function dirBytes(dir: string): Promise<number> {
  const { stat } = await import('node:fs/promises');
  let total = 0;
  for (const f of await readdir(dir)) total += (await stat(join(dir, f))).size;
  return total;
}

interface Row {
  corpus: string;
  docs: number;
  postings: number;
  oursIndexS: number;
  luceneIndexS: number;
  oursIndexCpuS: number;
  luceneIndexCpuS: number;
  oursQps: number;
  luceneQps: number;
  oursCpuQps: number;
  luceneCpuQps: number;
  oursBytesPerPosting: number;
  oursAllBytesPerPosting: number;
  oursDiskBytesPerPosting: number;
  luceneBytesPerPosting: number;
  agreement: string;
}

async function benchCorpus(name: string, corpusPath: string, queriesPath: string): Promise<Row> {
  console.error(`[${name}] indexing with the embedded engine...`);
  const t0 = performance.now();
  const c0 = cpuSeconds();
  const index = new BM25Index();
  for (const d of readJsonl<Doc>(corpusPath)) index.add({ id: d._id, text: d.title ? `${d.title} ${d.text}` : d.text });
  index.freeze();
  const oursIndexS = (performance.now() - t0) / 1000;
  const oursIndexCpuS = cpuSeconds() - c0;
  const stats = index.stats();
  const saved = join(work, `${name}-ours`);
  await index.save(saved);
  const oursDisk = await dirBytes(saved);

  console.error(`[${name}] indexing with Lucene...`);
  const luceneDir = join(work, `${name}-lucene`);
  await rm(luceneDir, { recursive: true, force: true });
  const li = lucene(['index', corpusPath, luceneDir]);

  const queries = readJsonl<{ _id: string; text: string }>(queriesPath);
  console.error(`[${name}] ${queries.length} queries x ${REPEAT} (after ${WARMUP} warm-up passes), top-${K}...`);
  for (let w = 0; w < WARMUP; w++) for (const q of queries) index.search(q.text, { k: K });
  const t1 = performance.now();
  const c1 = cpuSeconds();
  const ours = new Map<string, Array<{ id: string; score: number }>>();
  for (let r = 0; r < REPEAT; r++) for (const q of queries) ours.set(q._id, index.search(q.text, { k: K }));
  const oursQps = (REPEAT * queries.length) / ((performance.now() - t1) / 1000);
  const oursCpuQps = (REPEAT * queries.length) / (cpuSeconds() - c1);

  const runPath = join(work, `${name}-lucene.trec`);
  const ls = lucene([
    'search',
    luceneDir,
    queriesPath,
    runPath,
    '--k',
    String(K),
    '--repeat',
    String(REPEAT),
    '--warmup',
    String(WARMUP),
  ]);
  const theirs = new Map<string, Array<{ id: string; score: number }>>();
  for (const line of readFileSync(runPath, 'utf8').split('\n')) {
    if (!line) continue;
    const [qid, , id, , score] = line.split(' ');
    if (!theirs.has(qid!)) theirs.set(qid!, []);
    theirs.get(qid!)!.push({ id: id!, score: Number(score) });
  }
  let identical = 0;
  for (const q of queries) {
    const a = ours.get(q._id) ?? [];
    const b = theirs.get(q._id) ?? [];
    if (a.length === b.length && a.every((x, i) => x.id === b[i]!.id && x.score === Math.fround(b[i]!.score)))
      identical++;
  }
  let textBytes = 0;
  for (const d of readJsonl<Doc>(corpusPath))
    textBytes += Buffer.byteLength(d.title ? `${d.title} ${d.text}` : d.text) + Buffer.byteLength(d._id);
  return {
    corpus: name,
    docs: stats.documents,
    postings: stats.postings,
    oursIndexS,
    luceneIndexS: li['indexMs']! / 1000,
    oursIndexCpuS,
    luceneIndexCpuS: li['indexCpuMs']! / 1000,
    oursQps,
    luceneQps: ls['qps']!,
    oursCpuQps,
    luceneCpuQps: ls['cpuQps']!,
    oursBytesPerPosting: stats.postingsBytes / stats.postings,
    oursAllBytesPerPosting: (stats.postingsBytes + textBytes) / stats.postings,
    oursDiskBytesPerPosting: oursDisk / stats.postings,
    luceneBytesPerPosting: li['indexBytes']! / stats.postings,
    agreement: `${identical}/${queries.length} queries with identical top-${K} (ids and float scores)`,
  };
}

function print(row: Row): void {
  const f = (x: number, d = 2) => x.toFixed(d);
  console.log(`\n== ${row.corpus}: ${row.docs} docs, ${row.postings} postings; ${row.agreement}`);
  console.log(
    `index time, wall (s)         ours ${f(row.oursIndexS)}   lucene ${f(row.luceneIndexS)}   ratio ours/lucene ${f(row.oursIndexS / row.luceneIndexS)} (<1 = faster)`,
  );
  console.log(
    `index time, cpu (s)          ours ${f(row.oursIndexCpuS)}   lucene ${f(row.luceneIndexCpuS)}   ratio ours/lucene ${f(row.oursIndexCpuS / row.luceneIndexCpuS)} (<1 = faster)`,
  );
  console.log(
    `queries/s top-${K}, wall    ours ${f(row.oursQps, 1)}   lucene ${f(row.luceneQps, 1)}   ratio ours/lucene ${f(row.oursQps / row.luceneQps)} (>1 = faster)`,
  );
  console.log(
    `queries/s top-${K}, cpu     ours ${f(row.oursCpuQps, 1)}   lucene ${f(row.luceneCpuQps, 1)}   ratio ours/lucene ${f(row.oursCpuQps / row.luceneCpuQps)} (>1 = faster)`,
  );
  console.log(
    `bytes/posting           ours in memory: postings ${f(row.oursBytesPerPosting)}, with texts ${f(row.oursAllBytesPerPosting)}; ours on disk ${f(row.oursDiskBytesPerPosting)}   lucene on disk (with stored text) ${f(row.luceneBytesPerPosting)}   ratio ours(with texts)/lucene ${f(row.oursAllBytesPerPosting / row.luceneBytesPerPosting)}`,
  );
}

async function main(): Promise<void> {
  const cranfield = repoPath('datasets/cranfield');
  if (spawnSync(luceneRef, ['build'], { encoding: 'utf8' }).status !== 0) {
    console.error('bench skipped: tools/lucene-ref/run.sh build failed (java, javac and liblucene8-java needed)');
    return;
  }
  mkdirSync(work, { recursive: true });
  const corpus = join(cranfield, 'corpus.jsonl');
  const queries = join(cranfield, 'queries.jsonl');
  print(await benchCorpus('cranfield', corpus, queries));

  const copies = Number(process.env['BENCH_COPIES'] ?? 143);
  const synthetic = join(work, `synthetic-${copies}.jsonl`);
  await writeSynthetic(readJsonl<Doc>(corpus), copies, synthetic);
  print(await benchCorpus(`synthetic-x${copies}`, synthetic, queries));
}

await main();
