/**
 * Encoder benchmark on the full-size random-weight TAS-B model (tools/fixtures/out/full-tasb).
 *
 *   npm run bench -w packages/encoder [-- --passages 64 --queries 30 --rounds 1 --threads 2 --inference-thread worker|main]
 *
 * From one run, side by side: query latency (about 10 tokens) of ours vs a bare `session.run`; passage throughput
 * (MS MARCO-like lengths, 20-200 tokens, batch 32) of ours (tokenize + sort by length + pad per batch + worker
 * thread + pool) vs the same batches pre-tokenized through a bare ORT loop (the limit), and vs padding every
 * batch to 256 tokens. The three passage runs are interleaved round by round so machine load hits them alike.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { findRepoRoot, loadConfig } from '@dotrank/core';
import { loadEncoder } from '../src/encoder.js';

const { values } = parseArgs({
  options: {
    passages: { type: 'string', default: '64' },
    queries: { type: 'string', default: '30' },
    rounds: { type: 'string', default: '1' },
    threads: { type: 'string' },
    model: { type: 'string' },
    'inference-thread': { type: 'string', default: 'worker' },
  },
});
const root = findRepoRoot(process.cwd()) ?? process.cwd();
const modelDir = values.model ?? join(root, 'tools', 'fixtures', 'out', 'full-tasb');
if (!existsSync(join(modelDir, 'model.onnx'))) {
  console.log(`benchmark model not found: ${modelDir}`);
  console.log('generate it (about 1 minute, ~265 MB, gitignored) from the repository root with:');
  console.log('  tools/fixtures/.venv/bin/python tools/fixtures/make_encoder_fixtures.py --full-only');
  console.log('(the venv is made from tools/fixtures/requirements.txt; see tools/fixtures/README.md)');
  process.exit(0);
}

const PASSAGES = Number(values.passages);
const QUERIES = Number(values.queries);
const ROUNDS = Number(values.rounds);
const BATCH = 32;
const PAD_MAX = 256;
const inferenceThread = values['inference-thread'] === 'main' ? 'main' : 'worker';
const threads = values.threads !== undefined ? Number(values.threads) : availableParallelism();

// Words that are single WordPiece tokens in the BERT uncased vocabulary: n words = n + 2 tokens with [CLS]/[SEP].
const WORDS = (
  'the of and to in is was for on that with as by at from it an be this which or are were has have not but had ' +
  'flow layer boundary wing heat pressure surface shock wave speed number plate body air data results theory ' +
  'method model test high low small large effect study water time system value point line field order form'
).split(' ');
let seed = 12345;
function random(): number {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed / 2 ** 31;
}
function text(words: number): string {
  return Array.from({ length: words }, () => WORDS[Math.floor(random() * WORDS.length)]!).join(' ');
}
const passages = Array.from({ length: PASSAGES }, () => text(18 + Math.floor(random() * 181))); // 20..200 tokens
const queries = Array.from({ length: QUERIES }, () => text(8)); // 10 tokens

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

// ours and the bare baseline run with the same ORT settings, spinning included (DOTRANK_ORT_SPIN=1 turns it on)
const spinWait = loadConfig(process.env).DOTRANK_ORT_SPIN;
const spin = spinWait ? '1' : '0';
const sessionOptions: ort.InferenceSession.SessionOptions = {
  executionProviders: ['cpu'],
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
  extra: { session: { intra_op: { allow_spinning: spin }, inter_op: { allow_spinning: spin } } },
};

function tensors(batch: number[][], width: number): Record<string, ort.Tensor> {
  const ids = new BigInt64Array(batch.length * width);
  const mask = new BigInt64Array(batch.length * width);
  batch.forEach((row, r) =>
    row.forEach((id, c) => {
      ids[r * width + c] = BigInt(id);
      mask[r * width + c] = 1n;
    }),
  );
  return {
    input_ids: new ort.Tensor('int64', ids, [batch.length, width]),
    attention_mask: new ort.Tensor('int64', mask, [batch.length, width]),
  };
}

console.log(`encoder benchmark: ${modelDir}`);
console.log(
  `ours runs ORT on the ${inferenceThread} thread; ORT intra-op threads ${threads} (spinning ${spinWait ? 'on' : 'off'}, both), inter-op 1, sequential; ${availableParallelism()} cores; node ${process.version}; onnxruntime-node ${ort.env.versions.common}`,
);
const encoder = await loadEncoder(modelDir, { batchSize: BATCH, intraOpThreads: threads, inferenceThread, spinWait });
const bare = await ort.InferenceSession.create(join(modelDir, encoder.manifest.graph), sessionOptions);

// Pre-tokenized inputs for the bare loops: the same ids and the same length-sorted batches as ours.
const ids = encoder.tokenize(passages, 'passage');
const order = ids.map((_, i) => i).sort((a, b) => ids[b]!.length - ids[a]!.length || a - b);
const batches: number[][][] = [];
for (let i = 0; i < order.length; i += BATCH) batches.push(order.slice(i, i + BATCH).map((k) => ids[k]!));
const realTokens = ids.reduce((s, r) => s + r.length, 0);
const paddedTokens = batches.reduce((s, b) => s + b.length * Math.max(...b.map((r) => r.length)), 0);
const bareFeeds = batches.map((b) => tensors(b, Math.max(...b.map((r) => r.length))));
const maxFeeds = batches.map((b) => tensors(b, PAD_MAX));

// Warm-up: one small call on each path.
await encoder.encodeQueries([queries[0]!]);
await bare.run(
  tensors([encoder.tokenize([queries[0]!], 'query')[0]!], encoder.tokenize([queries[0]!], 'query')[0]!.length),
);

// Queries, one per call, alternating ours and bare.
const queryIds = encoder.tokenize(queries, 'query');
const oursQ: number[] = [];
const bareQ: number[] = [];
for (let i = 0; i < queries.length; i++) {
  let t = performance.now();
  await encoder.encodeQueries([queries[i]!]);
  oursQ.push(performance.now() - t);
  const feed = tensors([queryIds[i]!], queryIds[i]!.length);
  t = performance.now();
  await bare.run(feed);
  bareQ.push(performance.now() - t);
}
oursQ.sort((a, b) => a - b);
bareQ.sort((a, b) => a - b);

// Passages: ours, bare, pad-to-max, interleaved per round.
const totals = { ours: 0, bare: 0, max: 0 };
for (let round = 0; round < ROUNDS; round++) {
  let t = performance.now();
  const vectors = await encoder.encodePassages(passages);
  totals.ours += performance.now() - t;
  if (vectors.length !== passages.length) throw new Error('lost vectors');
  t = performance.now();
  for (const feed of bareFeeds) await bare.run(feed);
  totals.bare += performance.now() - t;
  t = performance.now();
  for (const feed of maxFeeds) await bare.run(feed);
  totals.max += performance.now() - t;
}
const rate = (ms: number): number => (PASSAGES * ROUNDS) / (ms / 1000);
const ours = rate(totals.ours);
const bareRate = rate(totals.bare);
const maxRate = rate(totals.max);

const f = (x: number, d = 1): string => x.toFixed(d);
console.log('');
console.log(`queries (${QUERIES}, ${queryIds[0]!.length} tokens, one per call)`);
console.log(`  ours  p50 ${f(percentile(oursQ, 50))} ms  p95 ${f(percentile(oursQ, 95))} ms`);
console.log(
  `  bare  p50 ${f(percentile(bareQ, 50))} ms  p95 ${f(percentile(bareQ, 95))} ms   ratio ours/bare p50 ${f(percentile(oursQ, 50) / percentile(bareQ, 50), 2)}x`,
);
console.log(
  `passages (${PASSAGES} x ${ROUNDS} round(s), 20-200 tokens, batch ${BATCH}; ${realTokens} real tokens, ${paddedTokens} padded per batch, ${PASSAGES * PAD_MAX} padded to ${PAD_MAX})`,
);
console.log(`  ours (tokenize+sort+pad per batch+worker)  ${f(ours, 2)} passages/s`);
console.log(
  `  bare session.run, padded to batch max      ${f(bareRate, 2)} passages/s   ours/bare = ${f(ours / bareRate, 3)}x (goal >= 0.95)`,
);
console.log(
  `  bare session.run, padded to ${PAD_MAX}            ${f(maxRate, 2)} passages/s   ours/pad-to-max = ${f(ours / maxRate, 3)}x (goal >= 1.5)`,
);

await encoder.close();
await bare.release();
