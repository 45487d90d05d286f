// The dot kernel against dotAt, in one run: 1,000 rows of 768 dimensions (a 1,000-candidate rerank's scoring once its
// query vector is there), scored by DotKernel (WebAssembly SIMD) and by dotAt, interleaved round by round; and the
// same rows dequantized from int8 (an int8-cached vector decoded) by the kernel and by the JavaScript loop.
// Run: npm run bench:dot -w packages/core   Env: BENCH_ROWS (1000), BENCH_DIM (768), BENCH_ROUNDS (200).
import { DotKernel } from '../src/dot-kernel.js';

const rows = Number(process.env['BENCH_ROWS'] ?? 1000);
const dim = Number(process.env['BENCH_DIM'] ?? 768);
const rounds = Number(process.env['BENCH_ROUNDS'] ?? 200);
const wasm = DotKernel.create();
const js = DotKernel.create({ js: true });
const query = Float32Array.from({ length: dim }, () => Math.random() - 0.5);
for (const scorer of [wasm, js]) {
  const m = scorer.reserve(dim, rows);
  for (let i = 0; i < m.length; i++) m[i] = Math.random() - 0.5;
  scorer.setQuery(query);
}
const out = new Float64Array(rows);
const int8 = Uint8Array.from({ length: dim }, () => Math.random() * 256);
const times = { wasm: [] as number[], js: [] as number[], wasmInt8: [] as number[], jsInt8: [] as number[] };
for (let r = 0; r < rounds + 20; r++) {
  for (const [name, scorer] of [
    ['wasm', wasm],
    ['js', js],
  ] as const) {
    let t = performance.now();
    scorer.scoreRows(rows, out);
    if (r >= 20) times[name].push(performance.now() - t);
    t = performance.now();
    for (let row = 0; row < rows; row++) scorer.setRowInt8(row, int8, 0.01);
    if (r >= 20) times[name === 'wasm' ? 'wasmInt8' : 'jsInt8'].push(performance.now() - t);
  }
}
const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ratio = (ours: number[], base: number[]) => (p50(base) / p50(ours)).toFixed(2);
console.log(`${rows} rows x ${dim} dims, ${rounds} rounds, p50 per round (WebAssembly SIMD: ${DotKernel.simd})`);
console.log(
  `  dot products: DotKernel ${p50(times.wasm).toFixed(3)} ms   dotAt ${p50(times.js).toFixed(3)} ms   ratio ${ratio(times.wasm, times.js)}x faster`,
);
console.log(
  `  int8 dequantization: DotKernel ${p50(times.wasmInt8).toFixed(3)} ms   JavaScript ${p50(times.jsInt8).toFixed(3)} ms   ratio ${ratio(times.wasmInt8, times.jsInt8)}x faster`,
);
