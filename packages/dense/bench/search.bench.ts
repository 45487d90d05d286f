// Dense search benchmark, from one run on the same vectors and queries: exact search (blocked Float32Array shards +
// bounded heap), the hnswlib backend (hnswlib-node, through HnswlibIndex) and the built-in JS HNSW, against a naive
// nested loop over number[] rows. Usage (from packages/dense; every flag also reads BENCH_<NAME>, e.g. BENCH_N=100000):
//   npm run bench -- [--n 1000000] [--data clustered|uniform] [--clusters N/1000] [--spread 1] [--queries 20]
//                    [--timing-queries 1000] [--naive-queries 3] [--m 16] [--ef-construction 200] [--ef 128,256,512]
//                    [--hnsw-seconds 60]
// Prints queries/s, recall@10 and @100 against exact search (same queries), build time and inserts/s, and bytes per
// vector (index file, RSS growth), with ratios. The JS HNSW is built for a bounded time on the first rows only (it
// inserts ~200 768-d vectors/s); `--hnsw-seconds 0` skips it, `--naive-queries 0` skips the naive loop.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seededRandom } from '@dotrank/core/testing';
import { exactSearch, exactSearchShards } from '../src/exact.js';
import { HnswIndex } from '../src/hnsw.js';
import { HnswlibIndex } from '../src/hnswlib.js';
import type { MatrixShard, VectorHit } from '../src/exact.js';
import { hnswlibOrSkipReason } from '../src/testing/hnswlib.js';

const raw = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : process.env[`BENCH_${name.toUpperCase().replace(/-/g, '_')}`];
};
const num = (name: string, fallback: number): number => {
  const v = raw(name);
  const n = v === undefined ? fallback : Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name}: must be a number >= 0 (got ${v})`);
  return n;
};
const N = num('n', 1_000_000);
const D = 768;
const K = 100;
const DATA = raw('data') ?? 'clustered';
if (DATA !== 'clustered' && DATA !== 'uniform') throw new Error(`--data: must be clustered or uniform (got ${DATA})`);
const CLUSTERS = num('clusters', Math.max(10, Math.round(N / 1000)));
const SPREAD = num('spread', 1);
const Q = Math.max(1, num('queries', 20));
const TIMING_Q = Math.max(1, num('timing-queries', 1000));
const NAIVE_Q = num('naive-queries', 3);
const M = num('m', 16);
const EF_CONSTRUCTION = num('ef-construction', 200);
const EFS = (raw('ef') ?? '128,256,512').split(',').map(Number);
const HNSW_SECONDS = num('hnsw-seconds', 60);
const SEED = 12345;

const fmt = (x: number, digits = 0) =>
  x.toLocaleString('en', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const pad = (s: string, n: number) => s.padEnd(n);
const seconds = (t0: number) => (performance.now() - t0) / 1000;
const gc = () => (globalThis as { gc?: () => void }).gc?.();

// --- data -----------------------------------------------------------------------------------------------------------
// uniform: every coordinate uniform in [-0.5, 0.5) - no neighbourhood structure, the worst case for graph indexes.
// clustered: a Gaussian mixture closer to real embeddings: CLUSTERS centres ~ N(0, s_j^2), a point = its centre +
// SPREAD x N(0, s_j^2), with anisotropic per-dimension scales s_j = 1/sqrt(1 + j/32) (a decaying spectrum, as real
// embeddings have: a few directions carry most of the variance). Queries are fresh draws from the same distribution.
const rand = seededRandom(SEED);
let spare: number | undefined;
const gauss = (): number => {
  if (spare !== undefined) {
    const s = spare;
    spare = undefined;
    return s;
  }
  let u = 0;
  while (u === 0) u = rand();
  const r = Math.sqrt(-2 * Math.log(u));
  const a = 2 * Math.PI * rand();
  spare = r * Math.sin(a);
  return r * Math.cos(a);
};
const scale = Float32Array.from({ length: D }, (_, j) => 1 / Math.sqrt(1 + j / 32));
const centres =
  DATA === 'clustered'
    ? Array.from({ length: CLUSTERS }, () => Float32Array.from({ length: D }, (_, j) => gauss() * scale[j]!))
    : [];
const drawInto = (out: Float32Array, offset: number): void => {
  if (DATA === 'uniform') {
    for (let j = 0; j < D; j++) out[offset + j] = rand() - 0.5;
    return;
  }
  const c = centres[Math.floor(rand() * CLUSTERS)]!;
  for (let j = 0; j < D; j++) out[offset + j] = c[j]! + SPREAD * gauss() * scale[j]!;
};
const describeData =
  DATA === 'uniform'
    ? 'uniform random in [-0.5, 0.5)^768 (no structure: the hard case for HNSW)'
    : `clustered: Gaussian mixture, ${fmt(CLUSTERS)} clusters, spread ${SPREAD}, per-dimension scale 1/sqrt(1 + j/32)`;

console.log(
  `dense search bench: ${fmt(N)} x ${D}-d vectors, ${describeData}; seed ${SEED}; k=${K}; node ${process.version}`,
);
let t = performance.now();
// Shards of <= 250k rows: one Float32Array past ~1.5 GiB scans several times slower on Node 20 (see exact.ts).
const SHARD_ROWS = 250_000;
const shards: MatrixShard[] = [];
for (let offset = 0; offset < N; offset += SHARD_ROWS) {
  const count = Math.min(SHARD_ROWS, N - offset);
  const m = new Float32Array(count * D);
  for (let r = 0; r < count; r++) drawInto(m, r * D);
  shards.push({ matrix: m, count, offset });
}
const rowOf = (r: number) => {
  const s = shards[Math.floor(r / SHARD_ROWS)]!;
  const local = r % SHARD_ROWS;
  return s.matrix.subarray(local * D, (local + 1) * D);
};
const draw = (n: number) =>
  Array.from({ length: n }, () => {
    const v = new Float32Array(D);
    drawInto(v, 0);
    return v;
  });
const queries = draw(Math.max(Q, NAIVE_Q)); // with exact truth: recall
const timingQueries = draw(TIMING_Q); // fresh ones, for approximate queries/s only
console.log(
  `generated ${shards.length} shard(s) (${fmt((N * D * 4) / 2 ** 20)} MiB) and ${queries.length} + ${TIMING_Q} queries in ${seconds(t).toFixed(1)} s`,
);

// --- exact ------------------------------------------------------------------------------------------------------------
t = performance.now();
const truth = queries.slice(0, Q).map((q) => exactSearchShards(shards, D, q, K));
const exactQps = Q / seconds(t);
console.log(`exact: ${Q} queries, ${exactQps.toFixed(2)} queries/s`);

const recall = (hits: VectorHit[][], k: number, exact: VectorHit[][]) => {
  let found = 0;
  hits.forEach((h, i) => {
    const want = new Set(exact[i]!.slice(0, k).map((x) => x.row));
    found += h.slice(0, k).filter((x) => want.has(x.row)).length;
  });
  return found / (k * hits.length);
};

// --- hnswlib ----------------------------------------------------------------------------------------------------------
interface AnnRow {
  label: string;
  qps: number;
  qps10: number;
  recall10: number;
  recall100: number;
}
const annRows: AnnRow[] = [];
let hnswlibBuild:
  | {
      seconds: number;
      rate: number;
      fileBytes: number;
      rssBytes: number;
      estBytes: number;
      saveSeconds: number;
      loadSeconds: number;
    }
  | undefined;
const hnswlib = hnswlibOrSkipReason();
if ('reason' in hnswlib) console.log(`hnswlib: skipped - ${hnswlib.reason}`);
else {
  gc();
  const rssBefore = process.memoryUsage().rss;
  // capacity N up front: no resize copies while building, and the RSS growth is the final size
  let index: HnswlibIndex | undefined = new HnswlibIndex(
    hnswlib.module,
    D,
    rowOf,
    { M, efConstruction: EF_CONSTRUCTION, efSearch: EFS[0]! },
    N,
  );
  t = performance.now();
  const step = Math.max(1, Math.round(N / 10));
  for (let r = 0; r < N; r++) {
    index.add(r);
    if ((r + 1) % step === 0 && r + 1 < N)
      console.log(`hnswlib build: ${fmt(r + 1)} rows, ${((r + 1) / seconds(t)).toFixed(0)} inserts/s so far`);
  }
  const buildSeconds = seconds(t);
  gc();
  const rssBytes = (process.memoryUsage().rss - rssBefore) / N;
  const dir = await mkdtemp(join(tmpdir(), 'dotrank-dense-bench-'));
  const file = join(dir, 'hnswlib-ip.bin');
  t = performance.now();
  await index.save(file);
  const saveSeconds = seconds(t);
  const fileSize = (await stat(file)).size;
  t = performance.now();
  const reloaded = await HnswlibIndex.load(
    hnswlib.module,
    file,
    { dim: D, count: N, bytes: fileSize, params: { M, efConstruction: EF_CONSTRUCTION, efSearch: EFS[0]! } },
    rowOf,
  );
  const loadSeconds = seconds(t);
  await rm(dir, { recursive: true, force: true });
  // the reloaded index must answer as the built one
  const same = queries
    .slice(0, Q)
    .every((q) => JSON.stringify(reloaded.search(q, K)) === JSON.stringify(index!.search(q, K)));
  if (!same) throw new Error('the reloaded hnswlib index answers differently from the one built');
  hnswlibBuild = {
    seconds: buildSeconds,
    rate: N / buildSeconds,
    fileBytes: fileSize / N,
    rssBytes,
    estBytes: index.memoryBytes() / N,
    saveSeconds,
    loadSeconds,
  };
  console.log(
    `hnswlib build: ${fmt(N)} rows in ${buildSeconds.toFixed(1)} s (${hnswlibBuild.rate.toFixed(0)} inserts/s); saved in ${saveSeconds.toFixed(1)} s, reloaded in ${loadSeconds.toFixed(1)} s with the same answers`,
  );
  for (const ef of EFS) {
    const at100 = queries.slice(0, Q).map((q) => index!.search(q, K, ef));
    const at10 = queries.slice(0, Q).map((q) => index!.search(q, 10, ef));
    for (const q of timingQueries.slice(0, 100)) index.search(q, K, ef); // warm-up: the first timed ef must not pay it
    t = performance.now();
    for (const q of timingQueries) index.search(q, K, ef);
    const qps = TIMING_Q / seconds(t);
    t = performance.now();
    for (const q of timingQueries) index.search(q, 10, ef);
    const qps10 = TIMING_Q / seconds(t);
    annRows.push({
      label: `hnswlib efSearch=${ef}`,
      qps,
      qps10,
      recall10: recall(at10, 10, truth),
      recall100: recall(at100, K, truth),
    });
  }
  index = undefined; // frees the native index at the next GC, before the naive loop's 6 KB/vector
  gc();
}

// --- naive loop -------------------------------------------------------------------------------------------------------
let naiveQps = Number.NaN;
let naiveBytesPerVector = Number.NaN;
let agree = 0;
if (NAIVE_Q > 0) {
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  t = performance.now();
  const rows: number[][] = new Array(N);
  for (let r = 0; r < N; r++) {
    const v = rowOf(r);
    const row = new Array<number>(D); // preallocated, as a plain JS program would (Array.from grows it: +25% memory)
    for (let j = 0; j < D; j++) row[j] = v[j]!;
    rows[r] = row;
  }
  const naiveBuild = seconds(t);
  gc();
  naiveBytesPerVector = (process.memoryUsage().heapUsed - heapBefore) / N;
  t = performance.now();
  for (let qi = 0; qi < NAIVE_Q; qi++) {
    const q = Array.from(queries[qi]!);
    const scored: Array<{ row: number; s: number }> = [];
    for (let r = 0; r < N; r++) {
      const v = rows[r]!;
      let s = 0;
      for (let j = 0; j < D; j++) s += v[j]! * q[j]!;
      scored.push({ row: r, s });
    }
    scored.sort((a, b) => b.s - a.s);
    const mine = qi < Q ? truth[qi]! : exactSearchShards(shards, D, queries[qi]!, K);
    if (scored.slice(0, K).every((x, i) => x.row === mine[i]!.row)) agree++;
  }
  naiveQps = NAIVE_Q / seconds(t);
  console.log(
    `naive: copied the matrix into ${fmt(N)} number[] rows in ${naiveBuild.toFixed(1)} s; ${naiveQps.toFixed(3)} queries/s`,
  );
  rows.length = 0;
  gc();
}

// --- built-in JS HNSW, bounded build on the first shard ---------------------------------------------------------------
let js:
  | {
      built: number;
      seconds: number;
      rate: number;
      qps: number;
      exactQps: number;
      recall100: number;
      graphBytes: number;
    }
  | undefined;
if (HNSW_SECONDS > 0) {
  const first = shards[0]!;
  const hnsw = new HnswIndex(D, first.matrix, { M, efConstruction: EF_CONSTRUCTION, efSearch: EFS[0]! });
  t = performance.now();
  const deadline = t + HNSW_SECONDS * 1000;
  while (hnsw.size < first.count && performance.now() < deadline) hnsw.add(hnsw.size);
  const buildSeconds = seconds(t);
  const built = hnsw.size;
  const subTruth = queries.slice(0, Q).map((q) => exactSearch(first.matrix, D, built, q, K));
  t = performance.now();
  for (const q of queries.slice(0, Q)) exactSearch(first.matrix, D, built, q, K);
  const exactSubQps = Q / seconds(t);
  t = performance.now();
  const approx = queries.slice(0, Q).map((q) => hnsw.search(q, K, EFS[0]!));
  const qps = Q / seconds(t);
  js = {
    built,
    seconds: buildSeconds,
    rate: built / buildSeconds,
    qps,
    exactQps: exactSubQps,
    recall100: recall(approx, K, subTruth),
    graphBytes: hnsw.graphBytes() / built,
  };
}

// --- report -------------------------------------------------------------------------------------------------------------
const ratio = (a: number, b: number) =>
  Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(a / b >= 100 ? 0 : 2)}x` : '-';
console.log('');
console.log(`data: ${describeData}`);
console.log(
  `${pad(`search over ${fmt(N)} vectors, k=${K}`, 46)} ${pad('queries/s', 11)} ${pad('vs naive', 9)} ${pad('vs exact', 9)} ${pad('recall@10', 10)} recall@100   (k=10: queries/s)`,
);
if (NAIVE_Q > 0)
  console.log(
    `${pad('naive nested loop, number[] rows + sort', 46)} ${pad(naiveQps.toFixed(3), 11)} ${pad('1.00x', 9)} ${pad(ratio(naiveQps, exactQps), 9)} ${pad('1', 10)} 1`,
  );
console.log(
  `${pad('exact: blocked Float32Array shards + heap', 46)} ${pad(exactQps.toFixed(3), 11)} ${pad(ratio(exactQps, naiveQps), 9)} ${pad('1.00x', 9)} ${pad('1', 10)} 1` +
    (NAIVE_Q > 0 ? `   (same top-${K} as naive on ${agree}/${NAIVE_Q} queries)` : ''),
);
for (const r of annRows) {
  console.log(
    `${pad(`${r.label} (M=${M}, efC=${EF_CONSTRUCTION})`, 46)} ${pad(r.qps.toFixed(1), 11)} ${pad(ratio(r.qps, naiveQps), 9)} ${pad(ratio(r.qps, exactQps), 9)} ${pad(r.recall10.toFixed(3), 10)} ${pad(r.recall100.toFixed(3), 12)} (${r.qps10.toFixed(1)})`,
  );
}
console.log(
  `  recall: over the ${Q} queries with exact truth; queries/s: over ${fmt(TIMING_Q)} other queries from the same distribution`,
);
console.log('');
if (hnswlibBuild) {
  console.log(
    `build: hnswlib ${fmt(N)} vectors in ${hnswlibBuild.seconds.toFixed(1)} s = ${hnswlibBuild.rate.toFixed(0)} inserts/s` +
      (js
        ? `; JS HNSW ${fmt(js.built)} rows in ${js.seconds.toFixed(0)} s = ${js.rate.toFixed(0)} inserts/s (hnswlib ${ratio(hnswlibBuild.rate, js.rate)})`
        : ''),
  );
  console.log(`        save ${hnswlibBuild.saveSeconds.toFixed(1)} s, reload ${hnswlibBuild.loadSeconds.toFixed(1)} s`);
}
if (js) {
  console.log(
    `JS HNSW over its ${fmt(js.built)} rows, efSearch=${EFS[0]}: ${js.qps.toFixed(1)} queries/s vs exact over the same rows ${js.exactQps.toFixed(1)} (${ratio(js.qps, js.exactQps)}), recall@${K} ${js.recall100.toFixed(3)}`,
  );
}
const row = D * 4;
const parts = [`Float32Array row ${fmt(row)} B`];
if (NAIVE_Q > 0) parts.push(`number[] row ${fmt(naiveBytesPerVector)} B (${ratio(naiveBytesPerVector, row)})`);
if (hnswlibBuild) {
  parts.push(
    `hnswlib index file ${fmt(hnswlibBuild.fileBytes)} B (${ratio(hnswlibBuild.fileBytes, row)} of the row; its own copy of the vector included), ` +
      `RSS +${fmt(hnswlibBuild.rssBytes)} B (estimate ${fmt(hnswlibBuild.estBytes)} B)`,
  );
}
if (js) parts.push(`JS HNSW graph +${fmt(js.graphBytes)} B (reads the shared row)`);
console.log(`memory per vector: ${parts.join('; ')}`);
