/**
 * int8 vs fp32, and ours vs torch.onnx.export + onnxruntime.quantization.quantize_dynamic, on a full-size random-weight
 * TAS-B-shaped DistilBERT (66M parameters). All graphs run in this one process, with the same ORT settings and the
 * same token batches, so the ratios compare like with like.
 *
 *   tools/fixtures/.venv/bin/python tools/fixtures/make_checkpoints.py --full    # once: tools/fixtures/out/hf-full-tasb
 *   npm run bench -w packages/model-tools [-- --passages 48 --length 128 --batch 16 --queries 40 --rounds 3 --reuse]
 */
import { existsSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { findRepoRoot } from '@dotrank/core';
import { convertCheckpoint } from '../src/convert.js';
import type { Int8Kernel, WeightDtype } from '../src/build-graph.js';
import { seededRandom } from '@dotrank/core/testing';

const { values } = parseArgs({
  options: {
    passages: { type: 'string', default: '48' },
    length: { type: 'string', default: '128' },
    batch: { type: 'string', default: '16' },
    queries: { type: 'string', default: '40' },
    'query-length': { type: 'string', default: '12' },
    rounds: { type: 'string', default: '3' },
    reuse: { type: 'boolean', default: false },
  },
});
const PASSAGES = Number(values.passages);
const LENGTH = Number(values.length);
const BATCH = Number(values.batch);
const QUERIES = Number(values.queries);
const QUERY_LENGTH = Number(values['query-length']);
const ROUNDS = Number(values.rounds);

const root = findRepoRoot(new URL('.', import.meta.url).pathname)!;
const full = join(root, 'tools', 'fixtures', 'out', 'hf-full-tasb');
if (!existsSync(join(full, 'pytorch_model.bin'))) {
  console.log(
    `no full-size checkpoint at ${full}; generate it with:\n  tools/fixtures/.venv/bin/python tools/fixtures/make_checkpoints.py --full`,
  );
  process.exit(0);
}

const rand = seededRandom(42);
const row = (n: number) => [101, ...Array.from({ length: n - 2 }, () => 1000 + Math.floor(rand() * 28000)), 102];
const passageRows = Array.from({ length: PASSAGES }, () => row(LENGTH));
const queryRows = Array.from({ length: QUERIES }, () => row(QUERY_LENGTH));

function feeds(rows: number[][]): Record<string, ort.Tensor> {
  const width = rows[0]!.length;
  const ids = BigInt64Array.from(rows.flat().map(BigInt));
  return {
    input_ids: new ort.Tensor('int64', ids, [rows.length, width]),
    attention_mask: new ort.Tensor('int64', new BigInt64Array(ids.length).fill(1n), [rows.length, width]),
  };
}

interface Figures {
  name: string;
  bytes: number;
  passagesPerSecond: number;
  queryMedianMs: number;
  queryP95Ms: number;
  cls: Float32Array;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * All graphs are loaded, then measured round-robin (ROUNDS passes over the passages, each query on every graph in
 * turn), and each figure is the median over rounds: load from other processes on a shared machine then hits every
 * graph alike instead of whichever happened to run during it.
 */
async function measureAll(graphs: { name: string; path: string }[]): Promise<Figures[]> {
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: cpus().length,
    interOpNumThreads: 1,
    executionMode: 'sequential',
  };
  const sessions = [];
  for (const g of graphs) sessions.push(await ort.InferenceSession.create(g.path, options));
  const cls: Float32Array[] = [];
  for (const session of sessions) {
    const hidden = (await session.run(feeds(passageRows.slice(0, BATCH))))['last_hidden_state']!; // warm-up
    const dim = hidden.dims[2]!;
    cls.push(
      Float32Array.from(
        { length: BATCH * dim },
        (_, i) => (hidden.data as Float32Array)[Math.floor(i / dim) * LENGTH * dim + (i % dim)]!,
      ),
    );
    await session.run(feeds([queryRows[0]!]));
  }
  const rates: number[][] = graphs.map(() => []);
  const latencies: number[][] = graphs.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [k, session] of sessions.entries()) {
      const t0 = performance.now();
      for (let s = 0; s < PASSAGES; s += BATCH) await session.run(feeds(passageRows.slice(s, s + BATCH)));
      rates[k]!.push(PASSAGES / ((performance.now() - t0) / 1000));
    }
    for (const q of queryRows) {
      for (const [k, session] of sessions.entries()) {
        const t0 = performance.now();
        await session.run(feeds([q]));
        latencies[k]!.push(performance.now() - t0);
      }
    }
  }
  for (const session of sessions) await session.release();
  return graphs.map((g, k) => {
    const times = [...latencies[k]!].sort((a, b) => a - b);
    return {
      name: g.name,
      bytes: statSync(g.path).size,
      passagesPerSecond: median(rates[k]!),
      queryMedianMs: median(times),
      queryP95Ms: times[Math.floor(times.length * 0.95)]!,
      cls: cls[k]!,
    };
  });
}

function cosines(a: Float32Array, b: Float32Array, dim: number): number {
  let worst = 1;
  for (let r = 0; r < a.length / dim; r++) {
    let ab = 0;
    let aa = 0;
    let bb = 0;
    for (let i = r * dim; i < (r + 1) * dim; i++) {
      ab += a[i]! * b[i]!;
      aa += a[i]! * a[i]!;
      bb += b[i]! * b[i]!;
    }
    worst = Math.min(worst, ab / Math.sqrt(aa * bb));
  }
  return worst;
}

const variants: { name: string; dtype: WeightDtype; kernel?: Int8Kernel }[] = [
  { name: 'ours fp32', dtype: 'fp32' },
  { name: 'ours int8 (MatMulInteger)', dtype: 'int8', kernel: 'matmul-integer' },
  { name: 'ours int8 (DynamicQuantizeMatMul)', dtype: 'int8', kernel: 'dynamic-quantize-matmul' },
];
const graphs: { name: string; path: string }[] = [];
for (const v of variants) {
  const dir = join(full, `dotrank-${v.dtype}${v.kernel ? `-${v.kernel}` : ''}`);
  if (!(values.reuse && existsSync(join(dir, 'dotrank.json')))) {
    const t0 = performance.now();
    await convertCheckpoint({ from: full, out: dir, dtype: v.dtype, ...(v.kernel ? { int8Kernel: v.kernel } : {}) });
    console.log(`converted ${v.name} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  graphs.push({ name: v.name, path: join(dir, 'model.onnx') });
}
for (const [name, file] of [
  ['torch.onnx.export fp32', 'model.onnx'],
  ['ORT quantize_dynamic int8', 'model.int8.onnx'],
] as const) {
  const path = join(full, 'torch-export', file);
  if (existsSync(path)) graphs.push({ name, path });
  else console.log(`(${path} missing: rerun make_checkpoints.py --full)`);
}
const results = await measureAll(graphs);

const byName = new Map(results.map((r) => [r.name, r]));
const fp32 = byName.get('ours fp32')!;
console.log(
  `\n${PASSAGES} passages x ${LENGTH} tokens in batches of ${BATCH}; ${QUERIES} single queries x ${QUERY_LENGTH} tokens; median of ${ROUNDS} interleaved rounds; ${cpus().length} threads; onnxruntime-node ${ort.env.versions.common}`,
);
console.log(
  'graph                               MB   passages/s  vs ours-fp32  query p50 ms  p95 ms  min cos vs ours-fp32',
);
for (const r of results) {
  console.log(
    `${r.name.padEnd(34)} ${(r.bytes / 1e6).toFixed(0).padStart(4)}  ${r.passagesPerSecond.toFixed(2).padStart(10)}  ${(r.passagesPerSecond / fp32.passagesPerSecond).toFixed(2).padStart(11)}x  ${r.queryMedianMs.toFixed(1).padStart(12)}  ${r.queryP95Ms.toFixed(1).padStart(6)}  ${cosines(r.cls, fp32.cls, 768).toFixed(5)}`,
  );
}
const ortInt8 = byName.get('ORT quantize_dynamic int8');
const torchFp32 = byName.get('torch.onnx.export fp32');
for (const ours of results.filter((r) => r.name.startsWith('ours int8'))) {
  console.log(
    `\n${ours.name}: int8/fp32 passages/s ${(ours.passagesPerSecond / fp32.passagesPerSecond).toFixed(2)}x, query p50 ${(fp32.queryMedianMs / ours.queryMedianMs).toFixed(2)}x faster`,
  );
  if (ortInt8)
    console.log(
      `  vs ORT quantize_dynamic: passages/s ${(ours.passagesPerSecond / ortInt8.passagesPerSecond).toFixed(2)}x, query p50 ${(ortInt8.queryMedianMs / ours.queryMedianMs).toFixed(2)}x (>1 = ours faster)`,
    );
}
if (torchFp32)
  console.log(
    `\nours fp32 vs torch.onnx.export fp32: passages/s ${(fp32.passagesPerSecond / torchFp32.passagesPerSecond).toFixed(2)}x, query p50 ${(torchFp32.queryMedianMs / fp32.queryMedianMs).toFixed(2)}x; min cos ${cosines(fp32.cls, torchFp32.cls, 768).toFixed(6)}`,
  );
