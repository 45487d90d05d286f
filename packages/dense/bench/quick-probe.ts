import { HnswIndex, exactSearch } from '../src/index.js';
const n = Number(process.argv[2] ?? 5000), d = Number(process.argv[3] ?? 768);
const M = Number(process.argv[4] ?? 16), efC = Number(process.argv[5] ?? 100);
const X = new Float32Array(n * d); for (let i = 0; i < X.length; i++) X[i] = Math.random() - 0.5;
const h = new HnswIndex(d, X, { M, efConstruction: efC });
let t = performance.now(); for (let i = 0; i < n; i++) h.add(i); console.log('build', n, ((performance.now() - t) / 1000).toFixed(1), 's');
for (const ef of [100, 200, 400]) { let rec = 0, st = 0; for (let qq = 0; qq < 20; qq++) { const q = new Float32Array(d); for (let i = 0; i < d; i++) q[i] = Math.random() - 0.5;
 t = performance.now(); const r = h.search(q, 100, ef); st += performance.now() - t; const ex = new Set(exactSearch(X, d, n, q, 100).map((x) => x.row)); rec += r.filter((x) => ex.has(x.row)).length / 100; }
 console.log('ef', ef, 'recall', rec / 20, 'ms', (st / 20).toFixed(2)); }
