// Dense search benchmark: exact (blocked Float32Array + bounded heap) and HNSW vs a naive nested loop over number[]
// arrays, on random 768-d vectors, from one run. Usage (from packages/dense):
//   npm run bench -- [--n 1000000] [--queries 10] [--naive-queries 3] [--hnsw-seconds 90] [--ef 128]
// Prints queries/s and bytes per vector side by side with ratios. HNSW is built for a bounded time on the first
// rows (building over 1M 768-d vectors takes far longer than this machine's session allows); its build rate is
// extrapolated, and its recall@100 is measured against exact search over the same rows.
import { exactSearch, exactSearchShards, HnswIndex } from '../src/index.js';
import type { MatrixShard } from '../src/index.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const N = arg('n', 1_000_000);
const D = 768;
const Q = arg('queries', 10);
const NAIVE_Q = arg('naive-queries', 3);
const HNSW_SECONDS = arg('hnsw-seconds', 90);
const EF = arg('ef', 128);
const K = 100;

let seed = 12345;
const rand = () => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 4294967296 - 0.5;
};

const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
console.log(`dense search bench: ${N.toLocaleString('en')} random ${D}-d vectors, k=${K}, node ${process.version}`);
let t = performance.now();
// Shards of <= 250k rows: one Float32Array past ~1.5 GiB scans several times slower on Node 20 (see exact.ts).
const SHARD_ROWS = 250_000;
const shards: MatrixShard[] = [];
for (let offset = 0; offset < N; offset += SHARD_ROWS) {
  const count = Math.min(SHARD_ROWS, N - offset);
  const m = new Float32Array(count * D);
  for (let i = 0; i < m.length; i++) m[i] = rand();
  shards.push({ matrix: m, count, offset });
}
const rowAt = (r: number, j: number) => shards[Math.floor(r / SHARD_ROWS)]!.matrix[(r % SHARD_ROWS) * D + j]!;
const first = shards[0]!;
const queries: Float32Array[] = [];
for (let q = 0; q < Math.max(Q, NAIVE_Q); q++) {
  const v = new Float32Array(D);
  for (let i = 0; i < D; i++) v[i] = rand();
  queries.push(v);
}
console.log(`generated ${shards.length} shards (${mib(N * D * 4)}) in ${((performance.now() - t) / 1000).toFixed(1)} s`);

// Exact search.
t = performance.now();
const exactResults = queries.slice(0, Q).map((q) => exactSearchShards(shards, D, q, K));
const exactSeconds = (performance.now() - t) / 1000;
const exactQps = Q / exactSeconds;

// Naive baseline: number[] rows, nested loop, full sort.
global.gc?.();
const heapBefore = process.memoryUsage().heapUsed;
t = performance.now();
const rows: number[][] = new Array(N);
for (let r = 0; r < N; r++) {
  const row = new Array<number>(D);
  for (let j = 0; j < D; j++) row[j] = rowAt(r, j);
  rows[r] = row;
}
const naiveBuild = (performance.now() - t) / 1000;
global.gc?.();
const naiveBytesPerVector = (process.memoryUsage().heapUsed - heapBefore) / N;
t = performance.now();
let agree = 0;
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
  const mine = qi < Q ? exactResults[qi]! : exactSearchShards(shards, D, queries[qi]!, K);
  if (scored.slice(0, K).every((x, i) => x.row === mine[i]!.row)) agree++;
}
const naiveQps = NAIVE_Q / ((performance.now() - t) / 1000);
console.log(`copied the matrix into ${N.toLocaleString('en')} number[] rows in ${naiveBuild.toFixed(1)} s`);
rows.length = 0;
global.gc?.();

// HNSW, built for a bounded time on the first rows.
const hnsw = new HnswIndex(D, first.matrix, { M: 16, efConstruction: 100, efSearch: EF });
t = performance.now();
const deadline = t + HNSW_SECONDS * 1000;
while (hnsw.size < first.count && performance.now() < deadline) hnsw.add(hnsw.size);
const buildSeconds = (performance.now() - t) / 1000;
const built = hnsw.size;
const insertsPerSecond = built / buildSeconds;
t = performance.now();
const approx = queries.slice(0, Q).map((q) => hnsw.search(q, K, EF));
const hnswQps = Q / ((performance.now() - t) / 1000);
let found = 0;
queries.slice(0, Q).forEach((q, i) => {
  const truth = new Set(exactSearch(first.matrix, D, built, q, K).map((h) => h.row));
  found += approx[i]!.filter((h) => truth.has(h.row)).length;
});
const recall = found / (K * Q);
t = performance.now();
for (const q of queries.slice(0, Q)) exactSearch(first.matrix, D, built, q, K);
const exactSubsetQps = Q / ((performance.now() - t) / 1000);
const graphPerVector = hnsw.graphBytes() / built;

const pad = (s: string, n: number) => s.padEnd(n);
console.log('');
console.log(`${pad('search over ' + N.toLocaleString('en') + ' vectors', 44)} ${pad('queries/s', 12)} vs naive`);
console.log(`${pad('naive nested loop, number[] rows + sort', 44)} ${pad(naiveQps.toFixed(3), 12)} 1.00x`);
console.log(`${pad('exact: blocked Float32Array shards + heap', 44)} ${pad(exactQps.toFixed(3), 12)} ${(exactQps / naiveQps).toFixed(2)}x   (same top-${K} as naive on ${agree}/${NAIVE_Q} queries)`);
console.log('');
console.log(`HNSW (M=16, efConstruction=100) built for ${buildSeconds.toFixed(0)} s: ${built.toLocaleString('en')} vectors, ${insertsPerSecond.toFixed(0)} inserts/s`);
console.log(`  extrapolated at that rate (a lower bound: insert cost grows with log n): 100k in ${(100_000 / insertsPerSecond / 60).toFixed(1)} min, 1M in ${(1_000_000 / insertsPerSecond / 3600).toFixed(1)} h`);
console.log(`${pad('search over the ' + built.toLocaleString('en') + ' graph rows', 44)} ${pad('queries/s', 12)} vs exact`);
console.log(`${pad('exact over the same rows', 44)} ${pad(exactSubsetQps.toFixed(1), 12)} 1.00x`);
console.log(`${pad(`HNSW efSearch=${EF}`, 44)} ${pad(hnswQps.toFixed(1), 12)} ${(hnswQps / exactSubsetQps).toFixed(2)}x   recall@${K} vs exact ${recall.toFixed(3)} (uniform random data: the hard case)`);
console.log('');
console.log(`memory per vector: Float32Array row ${D * 4} B; number[] row ${naiveBytesPerVector.toFixed(0)} B (${(naiveBytesPerVector / (D * 4)).toFixed(2)}x); HNSW graph +${graphPerVector.toFixed(0)} B (${((D * 4 + graphPerVector) / (D * 4)).toFixed(2)}x of the row)`);
