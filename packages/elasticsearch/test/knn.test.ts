// kNN additions: request bodies proven on the wire through @elastic/elasticsearch-mock, and the dense contract on
// ElasticsearchDenseSource (knn and script_score) with the real tiny ONNX fixture model.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@dotrank/core';
import { tinyModelDir } from '@dotrank/core/testing';
import { denseSourceContract } from '@dotrank/dense/testing';
import { loadEncoder } from '@dotrank/encoder';
import type { Encoder } from '@dotrank/encoder';
import {
  buildKnnBody,
  buildScriptScoreBody,
  createElasticsearchDenseSource,
  denseVectorMapping,
  innerProductFromScore,
  SCRIPT_SOURCE,
  supportsMaxInnerProduct,
} from '../src/knn.js';
import { fakeWithKnn } from './support/fake-knn.js';

let encoder: Encoder;
beforeAll(async () => {
  encoder = await loadEncoder(tinyModelDir(), { intraOpThreads: 1 });
});
afterAll(async () => {
  await encoder?.close();
});

const config = loadConfig({ ELASTICSEARCH_URL: 'http://127.0.0.1:9200', ELASTICSEARCH_INDEX: 'dense' });

describe('kNN request bodies', () => {
  it('knn: field, query vector, k, num_candidates, pre-filter', () => {
    const body = buildKnnBody([0.5, -1, 2], { k: 7, filter: { topic: 'flow', year: [1960, 1961] } });
    expect(body).toEqual({
      size: 7,
      track_total_hits: false,
      _source: { includes: ['title', 'text', 'metadata'] },
      knn: {
        field: 'vector',
        query_vector: [0.5, -1, 2],
        k: 7,
        num_candidates: 100,
        filter: [{ term: { 'metadata.topic': 'flow' } }, { terms: { 'metadata.year': [1960, 1961] } }],
      },
    });
    expect(buildKnnBody([1], { k: 500 }).knn.num_candidates).toBe(1000);
    expect(() => buildKnnBody([1], { k: 50, numCandidates: 10 })).toThrow(/numCandidates/);
  });

  it('script_score: exists + filters, dotProduct shifted to positive scores', () => {
    expect(buildScriptScoreBody([1, 2], { k: 3, filter: { topic: 'heat' }, vectorField: 'emb' })).toEqual({
      size: 3,
      track_total_hits: false,
      _source: { includes: ['title', 'text', 'metadata'] },
      query: {
        script_score: {
          query: { bool: { filter: [{ exists: { field: 'emb' } }, { term: { 'metadata.topic': 'heat' } }] } },
          script: { source: SCRIPT_SOURCE, params: { query_vector: [1, 2], field: 'emb' } },
        },
      },
    });
  });

  it('mappings: max_inner_product for knn, unindexed raw vector for script_score', () => {
    expect(denseVectorMapping(768)).toEqual({
      type: 'dense_vector',
      dims: 768,
      index: true,
      similarity: 'max_inner_product',
    });
    expect(denseVectorMapping(768, 'script_score')).toEqual({ type: 'dense_vector', dims: 768, index: false });
    expect(() => denseVectorMapping(0)).toThrow(/dims/);
  });

  it('versions and score mapping', () => {
    expect(supportsMaxInnerProduct('8.11.0')).toBe(true);
    expect(supportsMaxInnerProduct('9.0.1')).toBe(true);
    expect(supportsMaxInnerProduct('8.10.4')).toBe(false);
    expect(supportsMaxInnerProduct('7.17.9')).toBe(false);
    expect(innerProductFromScore(3.5)).toBeCloseTo(2.5, 12);
    expect(innerProductFromScore(1 / (1 - -4))).toBeCloseTo(-4, 12);
  });
});

describe('ElasticsearchDenseSource on the wire', () => {
  it('creates the index with the vector field, bulk-writes vectors with index actions, searches with knn', async () => {
    const fake = fakeWithKnn();
    const source = createElasticsearchDenseSource(config, {
      encoder,
      clientOptions: { Connection: fake.connection() },
    });
    const report = await source.index([
      { id: 'a', title: 'Wings', text: 'lift and drag', metadata: { topic: 'flow' } },
      { id: 'b', text: 'heat transfer' },
    ]);
    expect(report).toMatchObject({ indexed: 2, failed: 0 });
    const create = fake.requests.find((r) => r.method === 'PUT' && r.path === '/dense')!;
    expect(JSON.parse(create.body!).mappings.properties.vector).toEqual({
      type: 'dense_vector',
      dims: encoder.dimension,
      index: true,
      similarity: 'max_inner_product',
    });
    const bulk = fake
      .sent('/_bulk')[0]!
      .body!.trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const [va] = await encoder.encodePassages(['Wings lift and drag']);
    expect(bulk[0]).toEqual({ index: { _id: 'a' } });
    expect(bulk[1]).toMatchObject({ id: 'a', title: 'Wings', text: 'lift and drag', metadata: { topic: 'flow' } });
    expect(bulk[1].vector).toHaveLength(encoder.dimension);
    (bulk[1].vector as number[]).forEach((x, i) => expect(x).toBeCloseTo(va![i]!, 6));
    const hits = await source.search('lift', { k: 1 });
    const sent = JSON.parse(fake.sent('/_search').at(-1)!.body!);
    const [q] = await encoder.encodeQueries(['lift']);
    expect(sent.knn).toMatchObject({ field: 'vector', k: 1, num_candidates: 100 });
    (sent.knn.query_vector as number[]).forEach((x, i) => expect(x).toBeCloseTo(q![i]!, 6));
    expect(hits).toHaveLength(1);
    await source.close();
  });

  it('adds the vector mapping to an existing index with PUT _mapping (script_score mode)', async () => {
    const fake = fakeWithKnn();
    fake.indices.set('dense', {
      definition: { mappings: { properties: { text: { type: 'text' } } } },
      docs: new Map(),
    });
    const source = createElasticsearchDenseSource(config, {
      encoder,
      denseMode: 'script_score',
      clientOptions: { Connection: fake.connection() },
    });
    await source.ensureIndex();
    const put = fake.requests.find((r) => r.method === 'PUT' && r.path === '/dense/_mapping')!;
    expect(JSON.parse(put.body!)).toEqual({
      properties: { vector: { type: 'dense_vector', dims: encoder.dimension, index: false } },
    });
    await source.close();
  });

  it('names the missing encoder', () => {
    expect(() => createElasticsearchDenseSource(config, { encoder: undefined as never })).toThrow(/encoder/);
  });
});

denseSourceContract(
  'elasticsearch knn (mock transport)',
  async () =>
    createElasticsearchDenseSource(config, { encoder, clientOptions: { Connection: fakeWithKnn().connection() } }),
  () => encoder,
);
denseSourceContract(
  'elasticsearch script_score (mock transport, one text field, top-level metadata)',
  async () =>
    createElasticsearchDenseSource(config, {
      encoder,
      denseMode: 'script_score',
      index: 'dense-flat',
      idField: 'doc_id',
      searchFields: ['body'],
      textFields: ['body'],
      metadataField: null,
      metadataFields: ['topic', 'year'],
      clientOptions: { Connection: fakeWithKnn().connection() },
    }),
  () => encoder,
);
