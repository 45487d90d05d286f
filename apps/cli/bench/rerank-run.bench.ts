// `dotrank rerank --run` throughput with a warm vector cache, next to the worker's own warm rerank rate measured in
// the same run (goal: rerank --run >= 0.9x the worker's rate; issue #20).
//   Input: BENCH_QUERIES (default 1,000) queries made by cycling Cranfield's 225 queries under distinct qids, each
//   with its BM25 top 1,000 of Cranfield's 1,400 documents (so warming the cache means ~1,400 passage vectors).
//   (a) `rerank --run` of that run (the command's own code, rerankRun), in this process and through the queue;
//   (b) the worker's rate: the same reranks, one at a time, to the worker (as apps/reranker-worker's bench does).
// Each measurement starts with the query caches cold (a fresh worker, no shared query vectors) and the passage
// vectors cached; the baseline is measured before and after (a), both passes counting. Model: BENCH_MODEL, default
// the full-size tools/fixtures/out/full-tasb (the tiny fixture when absent). BENCH_RANDOM_VECTORS=1: see warmCache.
// Run: npm run bench:rerank-run -w apps/cli. REDIS_URL, default redis://127.0.0.1:6379 (own key prefix).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { BM25Index } from '@dotrank/bm25';
import { findRepoRoot, loadConfig, type Candidate, type Passage } from '@dotrank/core';
import { deleteKeysWithPrefix, seededRandom, uniquePrefix } from '@dotrank/core/testing';
import { loadEncoder } from '@dotrank/encoder';
import { compareTrecOrder, readCorpus, readQueries, writeRun } from '@dotrank/datasets';
import { QueueReranker, enqueueWarm } from '@dotrank/rerank-core';
import { RedisVectorStore, createRedisConnection, vectorStoreOptionsFromConfig } from '@dotrank/vector-cache';
import { rerankRun } from '../src/lib/rerank-run.js';

const root = findRepoRoot(import.meta.dirname)!;
const cranfield = join(root, 'datasets', 'cranfield');
const fullModel = join(root, 'tools', 'fixtures', 'out', 'full-tasb');
const QUERIES = Number(process.env['BENCH_QUERIES'] ?? 1000);
const DEPTH = 1000;
const url = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const threads = Number(process.env['DOTRANK_ORT_THREADS'] || availableParallelism());
const prefix = uniquePrefix('bench-rerank-run');

function modelDir(): string {
  const wanted = process.env['BENCH_MODEL'] ?? fullModel;
  if (existsSync(join(wanted, 'model.onnx'))) return wanted;
  const tiny = join(root, 'tools', 'fixtures', 'tiny-tasb');
  console.log(`NOTE: no model at ${wanted}: using the tiny fixture model ${tiny} (figures say little about the real`);
  console.log('      model; make the full-size one with tools/fixtures/make_encoder_fixtures.py --full-only)');
  return tiny;
}

interface BenchInput {
  /** The TREC run file and the queries file `rerank --run` reads. */
  run: string;
  queries: string;
  /** The same reranks as requests, for the worker's rate. */
  requests: { query: string; candidates: Candidate[] }[];
  passages: Passage[];
}

/** Cranfield's queries cycled to QUERIES distinct qids, each with its BM25 top DEPTH; written to `dir`. */
async function makeInput(dir: string): Promise<BenchInput> {
  const passages: Passage[] = [];
  for await (const p of readCorpus(cranfield)) passages.push(p);
  const byId = new Map(passages.map((p) => [p.id, p]));
  const index = new BM25Index();
  for (const p of passages) index.add(p);
  index.freeze();
  const base = await readQueries(cranfield);
  const run = new Map<string, { docId: string; score: number }[]>();
  const requests: BenchInput['requests'] = [];
  const lines: string[] = [];
  const hitsOf = new Map<string, { docId: string; score: number }[]>();
  for (let i = 0; i < QUERIES; i++) {
    const q = base[i % base.length]!;
    const qid = i < base.length ? q.id : `${q.id}.${Math.floor(i / base.length)}`;
    let hits = hitsOf.get(q.id);
    if (!hits) {
      hits = index.search(q.text, { k: DEPTH }).map((h) => ({ docId: h.id, score: h.score }));
      hitsOf.set(q.id, hits);
    }
    run.set(qid, hits);
    lines.push(`${qid}\t${q.text}`);
    // in the run's order (trec_eval's: best first, ties by docid): what rerank --run sends
    const ranked = [...hits].sort(compareTrecOrder);
    const candidates = ranked
      .map((h) => ({ id: h.docId, score: h.score, text: byId.get(h.docId)!.text }))
      .filter((c) => c.text.trim() !== ''); // rerank --run leaves out candidates without text
    requests.push({ query: q.text, candidates });
  }
  const runFile = join(dir, 'bm25.run');
  await writeRun(runFile, run, 'bm25');
  const queries = join(dir, 'queries.tsv');
  await writeFile(queries, `${lines.join('\n')}\n`);
  return { run: runFile, queries, requests, passages };
}

const env = { ...process.env, REDIS_URL: url, DOTRANK_QUEUE_PREFIX: prefix, DOTRANK_KEY_PREFIX: prefix };

/** A worker process on our prefix (the model at `model`), resolved once ready. */
async function startWorker(model: string): Promise<ChildProcess> {
  const bin = join(root, 'apps', 'reranker-worker', 'bin', 'reranker-worker.js');
  const child = spawn(process.execPath, [bin, '--model', model, '--threads', String(threads)], {
    env: { ...env, DOTRANK_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.includes('worker ready')) resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`worker exited (${code}):\n${out}`)));
  });
  child.stdout.removeAllListeners('data');
  child.stderr.removeAllListeners('data');
  child.stdout.resume();
  child.stderr.resume();
  return child;
}

async function stopWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** Deletes the shared query vectors (`<prefix>:qvec:*`): the next measurement encodes its queries as the first did. */
async function forgetQueryVectors(): Promise<void> {
  const redis = createRedisConnection(url);
  try {
    await deleteKeysWithPrefix(redis, `${prefix}:qvec:`);
  } finally {
    await redis.quit();
  }
}

/** (b) the worker's warm rate: the reranks one at a time through the queue, as a client of the worker would. */
async function workerRate(requests: BenchInput['requests']): Promise<number> {
  const producer = new QueueReranker({ connection: url, queuePrefix: prefix, maxCandidates: DEPTH });
  try {
    await producer.ready();
    let misses = 0;
    const started = performance.now();
    for (const r of requests) {
      const result = await producer.rerank({ ...r, fusion: 'tasb', k: r.candidates.length });
      misses += result.cache.misses;
    }
    const ms = performance.now() - started;
    if (misses > 0) throw new Error(`the cache was not warm: ${misses} misses`);
    return requests.length / (ms / 1000);
  } finally {
    await producer.close();
  }
}

/**
 * (a) `rerank --run` (its own code) as a user runs it, queries/s over the whole command (loading the model, reading
 * the run) and from the moment its reranker is open (its "reranking ..." line: the model is loaded, the run may still
 * be being read).
 */
async function rerankRunRate(input: BenchInput, model: string, via: 'in-process' | 'queue', out: string) {
  const config = loadConfig({ ...env, DOTRANK_MODEL: model, DOTRANK_ORT_THREADS: String(threads) });
  let reranking = 0;
  const started = performance.now();
  const summary = await rerankRun(config, {
    run: input.run,
    collection: cranfield,
    queries: input.queries,
    model,
    out,
    fusion: 'tasb',
    via,
    progress: false,
    log: (line) => {
      if (line.startsWith('reranking ')) reranking = performance.now();
    },
  });
  const ended = performance.now();
  return {
    whole: summary.queries / (summary.ms / 1000),
    setupMs: reranking - started,
    loop: summary.queries / ((ended - reranking) / 1000),
  };
}

/**
 * Every passage vector into the cache: encoded by the worker (warm jobs), or with BENCH_RANDOM_VECTORS=1 random
 * vectors under the same keys (the same bytes to read and score, meaningless scores): a quick check, since encoding
 * Cranfield with the full-size model takes minutes on two cores.
 */
async function warmCache(passages: Passage[], model: string): Promise<void> {
  if (process.env['BENCH_RANDOM_VECTORS'] === '1') {
    const encoder = await loadEncoder(model, { intraOpThreads: 1 });
    const store = new RedisVectorStore(vectorStoreOptionsFromConfig(loadConfig(env), encoder));
    const random = seededRandom(7);
    const vector = () => Float32Array.from({ length: encoder.dimension }, () => random() - 0.5);
    await store.setMany(passages.map((p) => ({ key: { id: p.id, text: p.text }, vector: vector() })));
    await store.close();
    await encoder.close();
    console.log(`cache filled with ${passages.length} RANDOM vectors (BENCH_RANDOM_VECTORS=1): timings only`);
    return;
  }
  const warm = await enqueueWarm(passages, { connection: url, queuePrefix: prefix, chunkSize: 100 });
  const warmed = await warm.wait();
  await warm.close();
  if (warmed.failedChunks > 0) throw new Error(`${warmed.failedChunks} warm chunks failed`);
  console.log(`cache warmed: ${warmed.encoded} passages encoded`);
}

async function main(): Promise<void> {
  const model = modelDir();
  const dir = await mkdtemp(join(tmpdir(), 'dotrank-bench-rerank-run-'));
  let worker = await startWorker(model);
  try {
    const input = await makeInput(dir);
    const candidates = input.requests.reduce((n, r) => n + r.candidates.length, 0);
    console.log(
      `model ${model}, ORT threads ${threads} (worker and bench each, used in turn), cores ${availableParallelism()}`,
    );
    console.log(
      `${input.requests.length} queries (Cranfield's, cycled), ${(candidates / input.requests.length).toFixed(0)} BM25 candidates each`,
    );
    await warmCache(input.passages, model);

    // the baseline before and after the two rerank --run measurements (a drift of the shared machine's speed weighs
    // on both alike); a fresh worker with no shared query vectors before each: its query cache as cold as at first
    const fresh = async () => {
      await stopWorker(worker);
      await forgetQueryVectors();
      worker = await startWorker(model);
    };
    const before = await workerRate(input.requests);
    const inProcess = await rerankRunRate(input, model, 'in-process', join(dir, 'in-process.run'));
    await fresh();
    const queued = await rerankRunRate(input, model, 'queue', join(dir, 'queue.run'));
    await fresh();
    const after = await workerRate(input.requests);
    const b = 2 / (1 / before + 1 / after);
    const same =
      (await readFile(join(dir, 'in-process.run'), 'utf8')) === (await readFile(join(dir, 'queue.run'), 'utf8'));
    if (!same) throw new Error('the in-process and the queue runs differ');

    const f = (x: number) => x.toFixed(1);
    const row = (name: string, a: Awaited<ReturnType<typeof rerankRunRate>>) =>
      `  ${name}: ${f(a.whole)}   ratio ${(a.whole / b).toFixed(2)}x (goal >= 0.9x)   [after its ${(a.setupMs / 1000).toFixed(1)} s start-up: ${f(a.loop)}, ${(a.loop / b).toFixed(2)}x]`;
    console.log('\nrerank --run with a warm passage cache (queries/s; query caches cold at the start of each)');
    console.log(`  worker, jobs one at a time (baseline): ${f(b)}   (${f(before)} before, ${f(after)} after)`);
    console.log(row('rerank --run, in process             ', inProcess));
    console.log(row('rerank --run --via queue             ', queued));
  } finally {
    await stopWorker(worker);
    const redis = createRedisConnection(url);
    await deleteKeysWithPrefix(redis, prefix);
    await redis.quit();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
