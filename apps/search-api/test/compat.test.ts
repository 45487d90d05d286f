// The compatibility endpoints against the real encoder (ONNX Runtime, tiny fixture model): scores and vectors equal
// what the encoder gives directly, in the shapes Cohere/Jina, TEI and OpenAI clients read.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PASSAGE_BYTES, dot } from '@dotrank/core';
import { redisUrlForTests, tinyModelDir, uniquePrefix } from '@dotrank/core/testing';
import { loadEncoder, type Encoder } from '@dotrank/encoder';
import { InProcessReranker, QueueReranker, startRerankWorker } from '@dotrank/rerank-core';
import type { RerankOptions, RerankRequest, RerankResult, Reranker } from '@dotrank/rerank-core';
import { MemoryVectorStore, RedisVectorStore } from '@dotrank/vector-cache';
import { buildServer } from '../src/index.js';
import { CachedPassageModel, lazyPassageModel } from '../src/plugins/compat-passages.js';
import type { PassageModel } from '../src/plugins/compat-passages.js';
import { FakeSource } from './fakes.js';
import { deleteKeys } from './helpers/redis.js';

const KEY = 'compat-test-key';
const QUERY = 'boundary layer transition on a flat plate';
const DOCUMENTS = [
  'the boundary layer on a flat plate becomes turbulent downstream',
  'heat transfer in hypersonic flow over a blunt body',
  'transition of the laminar boundary layer at high reynolds numbers',
  'buckling of thin cylindrical shells under axial compression',
  'flat plate skin friction measurements in supersonic flow',
];
/** Longer than the fixture model's passage max length (256 tokens). */
const LONG = Array.from({ length: 400 }, (_, i) => `word${i % 50}`).join(' ');

let encoder: Encoder;
let store: MemoryVectorStore;

/** Cohere's relevance_score (a float64 dot product) equals the encoder's, up to summation order. */
function expectScore(actual: number, expected: number): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(expected)));
}

async function expectedScores(query: string, texts: string[]): Promise<number[]> {
  const [q] = await encoder.encodeQueries([query]);
  const passages = await encoder.encodePassages(texts);
  return passages.map((p) => dot(q!, p));
}

const auth = { 'x-api-key': KEY };

beforeAll(async () => {
  encoder = await loadEncoder(tinyModelDir(), { intraOpThreads: 1 });
});
afterAll(async () => {
  await encoder?.close();
});

describe('compatibility endpoints, in-process with the real encoder', () => {
  let app: FastifyInstance;
  const post = (url: string, payload: object, headers: Record<string, string> = auth) =>
    app.inject({ method: 'POST', url, payload, headers });

  beforeAll(async () => {
    store = new MemoryVectorStore({ dimension: encoder.dimension });
    const reranker = new InProcessReranker({ encoder, store });
    const passages = lazyPassageModel(() => CachedPassageModel.open(encoder, store));
    app = await buildServer(
      { source: new FakeSource(), reranker, mode: 'in-process', passages },
      { logger: false, apiKey: KEY, deadlineMs: 10_000, maxCandidates: 8 },
    );
  });
  afterAll(async () => {
    await app?.close();
  });

  it('POST /v1/rerank: raw TAS-B dot products, best first, top_n and return_documents', async () => {
    const expected = await expectedScores(QUERY, DOCUMENTS);
    const order = expected.map((_, i) => i).sort((a, b) => expected[b]! - expected[a]!);
    const res = await post('/v1/rerank', { query: QUERY, documents: DOCUMENTS, model: 'dotrank' });
    expect(res.statusCode).toBe(200);
    const body = res.json() as {
      model: string;
      results: { index: number; relevance_score: number; document?: unknown }[];
      meta: { cache: { hits: number; misses: number } };
    };
    expect(body.model).toBe('dotrank');
    expect(body.results.map((r) => r.index)).toEqual(order);
    for (const r of body.results) {
      expectScore(r.relevance_score, expected[r.index]!);
      expect(r.document).toBeUndefined(); // return_documents defaults to false, as Cohere's
    }
    // documents as {text} objects, the best two, with their text
    const top = await post('/v1/rerank', {
      query: QUERY,
      documents: DOCUMENTS.map((text) => ({ text })),
      top_n: 2,
      return_documents: true,
    });
    expect(top.statusCode).toBe(200);
    const topBody = top.json() as { results: { index: number; relevance_score: number; document: { text: string } }[] };
    expect(topBody.results.map((r) => r.index)).toEqual(order.slice(0, 2));
    expect(topBody.results.map((r) => r.document.text)).toEqual(order.slice(0, 2).map((i) => DOCUMENTS[i]));
  });

  it('POST /rerank (TEI): [{index, score, text?}] sorted by score; equal texts get equal scores', async () => {
    const texts = [...DOCUMENTS, DOCUMENTS[0]!];
    const expected = await expectedScores(QUERY, texts);
    const res = await post('/rerank', { query: QUERY, texts, return_text: true, raw_scores: false });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { index: number; score: number; text: string }[];
    expect(body).toHaveLength(texts.length);
    expect(body.map((r) => r.index).sort()).toEqual(texts.map((_, i) => i));
    for (let i = 1; i < body.length; i++) expect(body[i - 1]!.score).toBeGreaterThanOrEqual(body[i]!.score);
    for (const r of body) {
      expectScore(r.score, expected[r.index]!);
      expect(r.text).toBe(texts[r.index]);
    }
    const plain = (await post('/rerank', { query: QUERY, texts })).json() as { text?: string }[];
    expect(plain.every((r) => r.text === undefined)).toBe(true);
  });

  it('POST /embed (TEI): raw passage vectors, exactly the encoder’s; normalize: true gives unit length', async () => {
    const vectors = await encoder.encodePassages(DOCUMENTS);
    const res = await post('/embed', { inputs: DOCUMENTS });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(vectors.map((v) => Array.from(v)));
    const single = await post('/embed', { inputs: DOCUMENTS[1] });
    expect(single.json()).toEqual([Array.from(vectors[1]!)]);
    const unit = (await post('/embed', { inputs: DOCUMENTS, normalize: true })).json() as number[][];
    unit.forEach((u, i) => {
      const norm = Math.hypot(...vectors[i]!);
      expect(Math.hypot(...u)).toBeCloseTo(1, 6);
      u.forEach((x, j) => expect(x).toBeCloseTo(vectors[i]![j]! / norm, 6));
    });
  });

  it('POST /v1/embeddings (OpenAI): floats, and base64 little-endian float32 decoding to the same floats', async () => {
    const vectors = await encoder.encodePassages(DOCUMENTS);
    const tokens = encoder.tokenize(DOCUMENTS, 'passage').reduce((n, ids) => n + ids.length, 0);
    const res = await post('/v1/embeddings', { input: DOCUMENTS, model: 'text-embedding-3-small' });
    expect(res.statusCode).toBe(200);
    const body = res.json() as {
      object: string;
      model: string;
      data: { object: string; index: number; embedding: number[] }[];
      usage: { prompt_tokens: number; total_tokens: number };
    };
    expect(body.object).toBe('list');
    expect(body.model).toBe(encoder.modelId);
    expect(body.usage).toEqual({ prompt_tokens: tokens, total_tokens: tokens });
    expect(body.data.map((d) => [d.object, d.index])).toEqual(DOCUMENTS.map((_, i) => ['embedding', i]));
    expect(body.data.map((d) => d.embedding)).toEqual(vectors.map((v) => Array.from(v)));

    const b64 = await post('/v1/embeddings', { input: DOCUMENTS, model: 'x', encoding_format: 'base64' });
    expect(b64.statusCode).toBe(200);
    const decoded = (b64.json() as { data: { embedding: string }[] }).data.map((d) => {
      const bytes = Buffer.from(d.embedding, 'base64');
      expect(bytes.length).toBe(encoder.dimension * 4);
      return Array.from({ length: bytes.length / 4 }, (_, j) => bytes.readFloatLE(j * 4));
    });
    expect(decoded).toEqual(body.data.map((d) => d.embedding));
  });

  it('truncates to the passage max length by default; truncate: false refuses an over-long text with 413 naming it', async () => {
    const [truncated] = await encoder.encodePassages([LONG]);
    const fine = await post('/embed', { inputs: [DOCUMENTS[0], LONG] });
    expect(fine.statusCode).toBe(200);
    expect((fine.json() as number[][])[1]).toEqual(Array.from(truncated!));
    const cases: [string, object, string][] = [
      ['/embed', { inputs: [DOCUMENTS[0], LONG], truncate: false }, 'inputs.1'],
      ['/rerank', { query: QUERY, texts: [DOCUMENTS[0], DOCUMENTS[1], LONG], truncate: false }, 'texts.2'],
      ['/v1/rerank', { query: QUERY, documents: [{ text: LONG }], truncate: false }, 'documents.0.text'],
    ];
    for (const [url, payload, field] of cases) {
      const res = await post(url, payload);
      expect(res.statusCode, url).toBe(413);
      expect(res.json(), url).toMatchObject({ error: 'input_too_long', field });
      expect((res.json() as { message: string }).message).toMatch(/more than the passage max length 256/);
    }
    expect((await post('/embed', { inputs: [DOCUMENTS[0]], truncate: false })).statusCode).toBe(200);
  });

  it('refuses bad input with 400 naming the field', async () => {
    const blank = [...DOCUMENTS.slice(0, 3), ' \n\t '];
    const cases: [string, object, string][] = [
      ['/v1/rerank', { query: QUERY, documents: blank }, 'documents.3'],
      ['/v1/rerank', { query: QUERY, documents: [{ text: 'a' }, { text: '\u200b' }] }, 'documents.1.text'],
      ['/v1/rerank', { query: QUERY, documents: [] }, 'documents'],
      ['/v1/rerank', { query: QUERY, documents: Array.from({ length: 9 }, (_, i) => `doc ${i}`) }, 'documents'],
      ['/v1/rerank', { query: QUERY, documents: ['a', 5] }, 'documents.1'],
      ['/v1/rerank', { query: '   ', documents: DOCUMENTS }, 'query'],
      ['/rerank', { query: 'é'.repeat(6000), texts: DOCUMENTS }, 'query'],
      ['/v1/rerank', { query: QUERY, documents: DOCUMENTS, top_n: 0 }, 'top_n'],
      ['/v1/rerank', { query: QUERY, documents: DOCUMENTS, rank_fields: ['text'] }, 'rank_fields'],
      ['/v1/rerank', { documents: DOCUMENTS }, 'query'],
      ['/rerank', { query: QUERY, texts: ['ok', 'x'.repeat(MAX_PASSAGE_BYTES + 1)] }, 'texts.1'],
      ['/embed', { inputs: '' }, 'inputs'],
      ['/embed', { inputs: ['a', ''] }, 'inputs.1'],
      ['/embed', { inputs: [[1, 2]] }, 'inputs'],
      ['/v1/embeddings', { input: DOCUMENTS, encoding_format: 'int8' }, 'encoding_format'],
      ['/v1/embeddings', { input: DOCUMENTS, dimensions: 8 }, 'dimensions'],
    ];
    for (const [url, payload, field] of cases) {
      const res = await post(url, payload);
      expect(res.statusCode, `${url} ${field}`).toBe(400);
      const body = res.json() as { field: string; message: string };
      expect(body.field, `${url} ${JSON.stringify(payload).slice(0, 80)}`).toBe(field);
      expect(body.message.startsWith(`${field}: `)).toBe(true);
    }
  });

  it('takes the API key as x-api-key or Authorization: Bearer, and refuses a request without it', async () => {
    for (const url of ['/v1/rerank', '/rerank', '/embed', '/v1/embeddings']) {
      const payload =
        url === '/v1/rerank'
          ? { query: QUERY, documents: DOCUMENTS }
          : url === '/rerank'
            ? { query: QUERY, texts: DOCUMENTS }
            : url === '/embed'
              ? { inputs: DOCUMENTS }
              : { input: DOCUMENTS };
      expect((await post(url, payload, {})).statusCode, url).toBe(401);
      expect((await post(url, payload, { authorization: 'Bearer wrong' })).statusCode, url).toBe(401);
      expect((await post(url, payload, { authorization: `Bearer ${KEY}` })).statusCode, url).toBe(200);
      expect((await post(url, payload, { 'x-api-key': KEY })).statusCode, url).toBe(200);
    }
  });

  it('reuses cached passage vectors: the second call and /embed of the same texts are all cache hits', async () => {
    const texts = DOCUMENTS.map((d) => `${d} (cache round)`);
    const metric = async () => {
      const text = (await app.inject({ url: '/metrics', headers: auth })).body;
      const value = (result: string) =>
        Number(
          new RegExp(`^dotrank_vector_cache_lookups_total\\{result="${result}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0,
        );
      return { hit: value('hit'), miss: value('miss') };
    };
    const before = await metric();
    const storeBefore = store.stats();
    const first = (await post('/v1/rerank', { query: QUERY, documents: texts })).json() as {
      results: { index: number; relevance_score: number }[];
      meta: { cache: { hits: number; misses: number } };
    };
    expect(first.meta.cache).toEqual({ hits: 0, misses: texts.length });
    const second = (await post('/v1/rerank', { query: 'another query about shells', documents: texts })).json() as {
      meta: { cache: { hits: number; misses: number } };
    };
    expect(second.meta.cache).toEqual({ hits: texts.length, misses: 0 });
    const embedded = await post('/embed', { inputs: texts });
    expect(embedded.json()).toEqual((await encoder.encodePassages(texts)).map((v) => Array.from(v)));
    const storeAfter = store.stats();
    expect(storeAfter.hits - storeBefore.hits).toBe(2 * texts.length);
    expect(storeAfter.misses - storeBefore.misses).toBe(texts.length);
    expect(await metric()).toEqual({ hit: before.hit + 2 * texts.length, miss: before.miss + texts.length });
  });

  it("answers the README's Elasticsearch `custom` rerank template, and its JSON paths read the ranking", async () => {
    // what Elasticsearch does with the endpoint's `request`: ${query} and ${input} replaced by JSON values, unquoted
    const template = '{"query": ${query}, "documents": ${input}, "return_documents": false}';
    const request = template.replace('${query}', JSON.stringify(QUERY)).replace('${input}', JSON.stringify(DOCUMENTS));
    const res = await app.inject({
      method: 'POST',
      url: '/v1/rerank',
      payload: request,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { results: { index: number; relevance_score: number }[] };
    // $.results[*].index and $.results[*].relevance_score: two arrays of the same length, indices integers
    const indices = body.results.map((r) => r.index);
    const scores = body.results.map((r) => r.relevance_score);
    expect(indices.every(Number.isInteger)).toBe(true);
    expect([...indices].sort()).toEqual(DOCUMENTS.map((_, i) => i));
    const expected = await expectedScores(QUERY, DOCUMENTS);
    indices.forEach((index, i) => expectScore(scores[i]!, expected[index]!));
  });

  it('lists the four routes in the OpenAPI document', async () => {
    const doc = (await app.inject({ url: '/docs/json', headers: auth })).json() as { paths: Record<string, unknown> };
    for (const path of ['/v1/rerank', '/rerank', '/embed', '/v1/embeddings'])
      expect(Object.keys(doc.paths)).toContain(path);
  });
});

describe('compatibility endpoints in queue mode: a worker scores, vectors in Redis', () => {
  it('scores through the worker, and /embed reads the vectors the worker cached (same keys)', async () => {
    const redisUrl = redisUrlForTests();
    const prefix = uniquePrefix('compat-queue');
    const storeOptions = {
      url: redisUrl,
      keyPrefix: prefix,
      modelId: encoder.modelId,
      revision: encoder.revision,
      dimension: encoder.dimension,
    };
    const workerStore = new RedisVectorStore(storeOptions);
    const apiStore = new RedisVectorStore(storeOptions);
    const worker = await startRerankWorker({ connection: redisUrl, queuePrefix: prefix, encoder, store: workerStore });
    const reranker = new QueueReranker({ connection: redisUrl, queuePrefix: prefix });
    const passages = lazyPassageModel(() => CachedPassageModel.open(encoder, apiStore));
    const app = await buildServer(
      { source: new FakeSource(), reranker, mode: 'queue', passages },
      { logger: false, deadlineMs: 10_000 },
    );
    try {
      const texts = DOCUMENTS.map((d) => `${d} (queue)`);
      const expected = await expectedScores(QUERY, texts);
      for (let round = 0; round < 2; round++) {
        const res = await app.inject({ method: 'POST', url: '/rerank', payload: { query: QUERY, texts } });
        expect(res.statusCode).toBe(200);
        const body = res.json() as { index: number; score: number }[];
        expect(body).toHaveLength(texts.length);
        body.forEach((r) => expectScore(r.score, expected[r.index]!));
      }
      // the first call encoded every text in the worker, the second found them all in Redis
      const metrics = (await app.inject({ url: '/metrics' })).body;
      expect(metrics).toMatch(
        new RegExp(`^dotrank_vector_cache_lookups_total\\{result="miss"\\} ${texts.length}$`, 'm'),
      );
      expect(metrics).toMatch(
        new RegExp(`^dotrank_vector_cache_lookups_total\\{result="hit"\\} ${texts.length}$`, 'm'),
      );
      const before = apiStore.stats();
      const embedded = await app.inject({ method: 'POST', url: '/embed', payload: { inputs: texts } });
      expect(embedded.json()).toEqual((await encoder.encodePassages(texts)).map((v) => Array.from(v)));
      expect(apiStore.stats().hits - before.hits).toBe(texts.length);
      expect(apiStore.stats().misses - before.misses).toBe(0);
    } finally {
      await app.close();
      await reranker.close();
      await worker.close();
      await workerStore.close();
      await apiStore.close();
      await deleteKeys(redisUrl, prefix);
    }
  }, 60_000);
});

/** A reranker that never answers (it stops when told): what a stalled worker looks like from the API. */
class StalledReranker implements Reranker {
  calls = 0;
  async rerank(_req: RerankRequest, opts: RerankOptions = {}): Promise<RerankResult> {
    this.calls++;
    return new Promise((_, reject) => opts.signal?.addEventListener('abort', () => reject(opts.signal!.reason)));
  }
  async close(): Promise<void> {}
}

/** A passage model whose encoding never finishes. */
const stalledPassages: PassageModel = {
  modelId: 'stalled',
  dimension: 4,
  passageMaxLength: 256,
  tokenCounts: (texts) => texts.map(() => 3),
  embedPassages: (_texts, signal) =>
    new Promise((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason))),
};

describe('compatibility endpoints past the deadline', () => {
  it('answer 503 with Retry-After (never made-up scores) when the reranker or the encoder stalls', async () => {
    const reranker = new StalledReranker();
    const app = await buildServer(
      { source: new FakeSource(), reranker, mode: 'in-process', passages: async () => stalledPassages },
      { logger: false, deadlineMs: 50, maxDeadlineMs: 150 },
    );
    try {
      const cases: [string, object][] = [
        ['/v1/rerank', { query: QUERY, documents: DOCUMENTS }],
        ['/rerank', { query: QUERY, texts: DOCUMENTS }],
        ['/embed', { inputs: DOCUMENTS }],
        ['/v1/embeddings', { input: DOCUMENTS }],
      ];
      for (const [url, payload] of cases) {
        const res = await app.inject({ method: 'POST', url, payload });
        expect(res.statusCode, url).toBe(503);
        expect(res.headers['retry-after'], url).toBe('1');
        expect(res.json(), url).toMatchObject({ error: 'unavailable', reason: 'timeout' });
        expect(Object.keys(res.json() as object).sort(), url).toEqual(['error', 'field', 'message', 'reason']);
      }
      expect(reranker.calls).toBe(2);
    } finally {
      await app.close();
    }
  });

  it('queue mode with no worker: 503 no_workers at once, with Retry-After', async () => {
    const prefix = uniquePrefix('compat-no-workers');
    const reranker = new QueueReranker({ connection: redisUrlForTests(), queuePrefix: prefix });
    const app = await buildServer(
      { source: new FakeSource(), reranker, mode: 'queue' },
      { logger: false, deadlineMs: 60_000 },
    );
    try {
      const res = await app.inject({
        method: 'POST',
        url: '/v1/rerank',
        payload: { query: QUERY, documents: DOCUMENTS },
      });
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBe('1');
      expect(res.json()).toMatchObject({ error: 'unavailable', field: '/v1/rerank', reason: 'no_workers' });
      // no model in this API process: /embed says what is missing
      const embed = await app.inject({ method: 'POST', url: '/embed', payload: { inputs: DOCUMENTS } });
      expect(embed.statusCode).toBe(503);
      expect(embed.json()).toMatchObject({ field: 'model' });
      expect((embed.json() as { message: string }).message).toMatch(/DOTRANK_MODEL/);
    } finally {
      await app.close();
      await reranker.close();
      await deleteKeys(redisUrlForTests(), prefix);
    }
  }, 30_000);
});
