import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Candidate } from '@dotrank/core';
import { redisUrlForTests, tinyModelDir, uniquePrefix } from '@dotrank/core/testing';
import { loadEncoder, type Encoder } from '@dotrank/encoder';
import { MemoryVectorStore, RedisVectorStore } from '@dotrank/vector-cache';
import { InProcessReranker } from '../src/in-process.js';
import { QueueReranker } from '../src/producer.js';
import { startRerankWorker, type RerankWorker } from '../src/processor.js';
import type { RerankRequest, RerankResult } from '../src/types.js';
import { deleteKeys, makeCandidates } from './queue-helpers.js';

// Finding 9 of #18: a candidate without text (empty or whitespace) must not sink the rerank of the others. The real
// encoder (ONNX Runtime, tiny model) refuses blank texts, which is what used to fail the whole request.
const prefix = uniquePrefix('rerank-textless');
let encoder: Encoder;
let store: RedisVectorStore;
let worker: RerankWorker;
let producer: QueueReranker;

beforeAll(async () => {
  encoder = await loadEncoder(tinyModelDir(), { intraOpThreads: 1 });
  store = new RedisVectorStore({
    url: redisUrlForTests(),
    keyPrefix: prefix,
    modelId: encoder.modelId,
    revision: encoder.revision,
    dimension: encoder.dimension,
  });
  worker = await startRerankWorker({
    connection: redisUrlForTests(),
    queuePrefix: prefix,
    encoder,
    store,
    concurrency: 2,
  });
  producer = new QueueReranker({ connection: redisUrlForTests(), queuePrefix: prefix });
  await producer.ready();
});

afterAll(async () => {
  await producer?.close();
  await worker?.close();
  await store?.close();
  await encoder?.close();
  await deleteKeys(prefix);
});

/** The bundled Cranfield passages as the corpus reader builds them (title + " " + text), two of which are empty. */
function cranfield(): Candidate[] {
  const lines = readFileSync(new URL('../../../datasets/cranfield/corpus.jsonl', import.meta.url), 'utf8')
    .split('\n')
    .filter(Boolean);
  return lines.map((line, i) => {
    const doc = JSON.parse(line) as { _id: string; title: string; text: string };
    return { id: doc._id, text: doc.title ? `${doc.title} ${doc.text}` : doc.text, score: 100 - i / 100 };
  });
}

const inProcess = (req: RerankRequest) =>
  new InProcessReranker({ encoder, store: new MemoryVectorStore() }).rerank(req);
const view = (r: RerankResult) =>
  r.results.map(({ id, rank, bm25Score, tasbScore }) => ({ id, rank, bm25Score, tasbScore }));

/** Checks the rule: the candidates with text ranked as if alone, then the textless ones in first-stage order. */
async function expectTextlessLast(result: RerankResult, req: RerankRequest, textlessIds: string[]): Promise<void> {
  const withText = req.candidates.filter((c) => !textlessIds.includes(c.id));
  const alone = await inProcess({ ...req, candidates: withText, k: undefined });
  const byFirstStage = req.candidates.filter((c) => textlessIds.includes(c.id)).sort((a, b) => b.score - a.score);
  const expected = [...alone.results.map((r) => r.id), ...byFirstStage.map((c) => c.id)].slice(0, req.k);
  expect(result.results.map((r) => r.id)).toEqual(expected);
  expect(result.results.map((r) => r.rank)).toEqual(expected.map((_, i) => i + 1));
  for (const r of result.results.slice(0, alone.results.length)) expect(r.tasbScore).toEqual(expect.any(Number));
  for (const r of result.results.filter((x) => textlessIds.includes(x.id))) {
    expect(r.tasbScore).toBeUndefined();
    expect(r.score).toBe(r.bm25Score);
  }
  expect([...(result.textless ?? [])].sort()).toEqual([...textlessIds].sort());
}

describe('candidates without text', () => {
  const candidates = makeCandidates(12, 7);
  candidates[2] = { ...candidates[2]!, text: '' };
  candidates[5] = { ...candidates[5]!, text: ' \n\t ' };
  candidates[9] = { ...candidates[9]!, text: '' };
  const textlessIds = [candidates[2]!.id, candidates[5]!.id, candidates[9]!.id];

  it('in process: the others are reranked, the textless ones follow in first-stage order, for every dense fusion', async () => {
    for (const fusion of ['tasb', 'interpolate', 'rrf'] as const) {
      const req: RerankRequest = { query: 'supersonic boundary layer', candidates, fusion };
      const result = await inProcess(req);
      await expectTextlessLast(result, req, textlessIds);
      expect(result.cache).toEqual({ hits: 0, misses: 9 });
    }
  });

  it('fusion bm25 needs no text: nothing is set apart', async () => {
    const result = await inProcess({ query: 'flow', candidates, fusion: 'bm25' });
    expect(result.results.map((r) => r.id)).toEqual(candidates.map((c) => c.id));
    expect(result.textless).toBeUndefined();
  });

  it('k cuts the whole list, textless ones included; a list of only textless candidates keeps first-stage order', async () => {
    const req: RerankRequest = { query: 'shock wave', candidates, fusion: 'rrf', k: 10 };
    await expectTextlessLast(await inProcess(req), req, textlessIds);
    const blank = [
      { id: 'b', text: '', score: 1 },
      { id: 'a', text: '  ', score: 3 },
    ];
    const onlyBlank = await inProcess({ query: 'shock wave', candidates: blank, fusion: 'tasb' });
    expect(view(onlyBlank)).toEqual([
      { id: 'a', rank: 1, bm25Score: 3, tasbScore: undefined },
      { id: 'b', rank: 2, bm25Score: 1, tasbScore: undefined },
    ]);
  });

  it('through the queue: the producer sends the job, the processor ranks the rest by the same rule', async () => {
    for (const fusion of ['tasb', 'rrf'] as const) {
      const req: RerankRequest = { query: 'heat transfer nozzle', candidates, fusion, k: 11 };
      const viaQueue = await producer.rerank(req);
      await expectTextlessLast(viaQueue, req, textlessIds);
      expect(view(viaQueue)).toEqual(view(await inProcess(req)));
    }
  });

  it('the bundled Cranfield collection (two empty documents, 471 and 995) reranks in both modes', async () => {
    const corpus = cranfield();
    const empty = corpus.filter((c) => c.text.trim() === '').map((c) => c.id);
    expect(empty).toEqual(['471', '995']);
    // the 40 first-stage candidates around both empty documents
    const req: RerankRequest = {
      query: 'what similarity laws must be obeyed when constructing aeroelastic models',
      candidates: [...corpus.slice(460, 480), ...corpus.slice(985, 1005)],
      fusion: 'rrf',
    };
    const local = await inProcess(req);
    await expectTextlessLast(local, req, empty);
    const viaQueue = await producer.rerank(req);
    expect(view(viaQueue)).toEqual(view(local));
    expect(viaQueue.textless).toEqual(['471', '995']);
  });
});
