// Does a smaller cached vector change the ranking? The bundled Cranfield collection, BM25 top-100 candidates per
// query reranked by TAS-B (fusion tasb) with the passage vectors read back from the real Redis vector cache in
// float32, float16 and int8 (DOTRANK_CACHE_DTYPE): how many queries keep float32's exact top-10, the mean overlap of
// the top-10s, and nDCG@10 against the qrels, side by side in one run. Passages are encoded
// once (float32) and written through each dtype's store, so the only difference is the cache's encoding.
// Run: npm run bench:dtype -w apps/cli   (DOTRANK_BENCH_MODEL, default the full-size model, else the tiny fixture
// model, said so; BENCH_DEPTH, default 100; REDIS_URL, default redis://127.0.0.1:6379)
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { BM25Index } from '@dotrank/bm25';
import { findRepoRoot, type DotrankConfig, type Passage } from '@dotrank/core';
import { deleteKeysWithPrefix, tinyModelDir } from '@dotrank/core/testing';
import { readCorpus, readQrels, readQueries } from '@dotrank/datasets';
import { loadEncoder } from '@dotrank/encoder';
import { evaluate } from '@dotrank/eval';
import { RedisVectorStore, createRedisConnection } from '@dotrank/vector-cache';

/** The cache encodings DOTRANK_CACHE_DTYPE takes. */
type VectorDtype = DotrankConfig['DOTRANK_CACHE_DTYPE'];
const DTYPES: VectorDtype[] = ['float32', 'float16', 'int8'];

const root = findRepoRoot(new URL('.', import.meta.url).pathname)!;
const fullModel = process.env['DOTRANK_BENCH_MODEL'] ?? join(root, 'tools', 'fixtures', 'out', 'full-tasb');
const full = existsSync(join(fullModel, 'model.onnx'));
const modelDir = full ? fullModel : tinyModelDir();
if (!full) console.log(`full-size model not found at ${fullModel}: using the tiny fixture model`);
const depth = Number(process.env['BENCH_DEPTH'] ?? 100);
const url = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const prefix = `dotrank-bench-dtype-${randomBytes(4).toString('hex')}`;
const collection = join(root, 'datasets', 'cranfield');

const passages: Passage[] = [];
// a passage without text has no vector: the reranker places it after the others whatever the dtype
for await (const p of readCorpus(collection)) if (p.text.trim() !== '') passages.push(p);
const queries = await readQueries(collection);
const qrels = await readQrels(collection);
const bm25 = new BM25Index();
for (const p of passages) bm25.add(p);
bm25.freeze();
const candidatesOf = new Map(queries.map((q) => [q.id, bm25.search(q.text, { k: depth })]));

const encoder = await loadEncoder(modelDir, { intraOpThreads: availableParallelism() });
console.log(
  `model ${encoder.modelId}${full ? '' : ' (tiny fixture: not representative)'}, ${passages.length} passages, ${queries.length} queries, BM25 top ${depth}`,
);
let t = performance.now();
const vectors = await encoder.encodePassages(passages.map((p) => p.text));
const queryVectors = await encoder.encodeQueries(queries.map((q) => q.text));
console.log(`encoded in ${((performance.now() - t) / 1000).toFixed(1)} s`);

type Ranking = Map<string, { docId: string; score: number }[]>;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rankings = new Map<VectorDtype, Ranking>();
try {
  for (const dtype of DTYPES) {
    const store = new RedisVectorStore({
      url,
      keyPrefix: prefix,
      modelId: encoder.modelId,
      revision: encoder.revision,
      dimension: encoder.dimension,
      dtype,
    });
    await store.setMany(passages.map((p, i) => ({ key: { id: p.id, text: p.text }, vector: vectors[i]! })));
    const ranking: Ranking = new Map();
    t = performance.now();
    for (const [qi, q] of queries.entries()) {
      const candidates = candidatesOf.get(q.id)!;
      const read = await store.getMany(candidates.map((c) => ({ id: c.id, text: c.text })));
      const scored = candidates.map((c, i) => {
        const v = read[i];
        if (!v) throw new Error(`${dtype}: vector of ${c.id} not read back`);
        let s = 0;
        const qv = queryVectors[qi]!;
        for (let d = 0; d < qv.length; d++) s += qv[d]! * v[d]!;
        return { docId: c.id, score: s };
      });
      // ties (equal scores, likelier once rounded) in first-stage order, as the reranker orders them
      ranking.set(
        q.id,
        scored
          .map((s, rank) => ({ ...s, rank }))
          .sort((a, b) => b.score - a.score || a.rank - b.rank)
          .map(({ docId, score }) => ({ docId, score })),
      );
    }
    rankings.set(dtype, ranking);
    await store.close();
  }

  const reference = rankings.get('float32')!;
  const ndcg = (r: Ranking) => evaluate(qrels, r, { measures: ['ndcg_cut_10'] }).aggregate['ndcg_cut_10']!;
  const base = ndcg(reference);
  // a model whose scores crowd together (a random-weight one: every passage vector points almost the same way)
  // swaps neighbours at the smallest rounding; this is the gap a rounding error must exceed to swap two of the top 10
  const gaps: number[] = [];
  const magnitudes: number[] = [];
  for (const q of queries) {
    const top = reference.get(q.id)!.slice(0, 10);
    for (let i = 1; i < top.length; i++) gaps.push(top[i - 1]!.score - top[i]!.score);
    magnitudes.push(Math.abs(top[0]!.score));
  }
  console.log(
    `\nfloat32 scores: top-1 magnitude p50 ${median(magnitudes).toExponential(2)}, gap between neighbours in the top 10 p50 ${median(gaps).toExponential(2)} (${(median(gaps) / median(magnitudes)).toExponential(2)} of the magnitude)`,
  );
  console.log(`top-10 against float32's, ${queries.length} queries`);
  for (const dtype of DTYPES) {
    const ranking = rankings.get(dtype)!;
    let same = 0;
    let sameSet = 0;
    let overlap = 0;
    for (const q of queries) {
      const a = reference
        .get(q.id)!
        .slice(0, 10)
        .map((h) => h.docId);
      const b = ranking
        .get(q.id)!
        .slice(0, 10)
        .map((h) => h.docId);
      if (a.every((id, i) => id === b[i])) same++;
      const common = b.filter((id) => a.includes(id)).length;
      if (common === a.length) sameSet++;
      overlap += common / a.length;
    }
    // how far each score moved, against how close float32's neighbours in the top 10 are (what decides a swap)
    const moved: number[] = [];
    for (const q of queries) {
      const exact = new Map(reference.get(q.id)!.map((h) => [h.docId, h.score]));
      for (const h of ranking.get(q.id)!) moved.push(Math.abs(h.score - exact.get(h.docId)!));
    }
    const n = ndcg(ranking);
    console.log(
      `  ${dtype.padEnd(7)}: identical top-10 (order too) ${same}/${queries.length}, same top-10 set ${sameSet}/${queries.length}, mean overlap ${(overlap / queries.length).toFixed(4)}; nDCG@10 ${n.toFixed(4)} vs float32 ${base.toFixed(4)} (${(n - base >= 0 ? '+' : '') + (n - base).toFixed(4)}); score error p50 ${median(moved).toExponential(2)}`,
    );
  }
} finally {
  await encoder.close();
  const redis = createRedisConnection(url);
  await deleteKeysWithPrefix(redis, prefix);
  await redis.quit();
}
