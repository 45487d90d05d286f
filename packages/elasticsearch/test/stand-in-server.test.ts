// The stand-in Elasticsearch, driven by the official client over HTTP: product check, search shapes, nested
// `_source`, the query forms the proxy and the source send, `_msearch`, `_count`, `_mapping`, errors in
// Elasticsearch's shape, and the record of what it received. Scores are checked against the embedded BM25 engine.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, errors } from '@elastic/elasticsearch';
import { BM25Index } from '@dotrank/bm25';
import { startStandInElasticsearch } from '../src/testing/index.js';
import type { StandInElasticsearch } from '../src/testing/index.js';
import { loadConfig } from '@dotrank/core';
import { createElasticsearchSource } from '../src/source.js';
import { caught } from './support/caught.js';

const DOCS = [
  {
    _id: 'd1',
    _source: {
      body: { content: 'boundary layer transition on a flat plate' },
      meta: { title: 'Flat plate', lang: 'en', year: 1950 },
    },
  },
  {
    _id: 'd2',
    _source: { body: { content: 'heat transfer in supersonic flow' }, meta: { title: 'Heat', lang: 'en', year: 1960 } },
  },
  {
    _id: 'd3',
    _source: {
      body: { content: 'transition to turbulence in the boundary layer of a cone' },
      meta: { title: 'Cone', lang: 'de', year: 1955 },
    },
  },
  {
    _id: 'd4',
    _source: { body: { content: ['layer one', 'layer two'] }, meta: { title: 'Arrays', lang: 'en', year: 1970 } },
  },
];

let es: StandInElasticsearch;
let client: Client;
beforeAll(async () => {
  es = await startStandInElasticsearch({
    indices: { library: { documents: DOCS }, other: { documents: [{ _id: 'o1', _source: { text: 'boundary' } }] } },
  });
  client = new Client({ node: es.url });
});
afterAll(async () => {
  await client.close();
  await es.close();
});

/** BM25 scores of one field as the embedded engine gives them, for the same documents. */
function bm25(texts: Record<string, string>, query: string): Map<string, number> {
  const index = new BM25Index();
  for (const [id, text] of Object.entries(texts)) index.add({ id, text });
  return new Map(index.search(query, { k: 10 }).map((h) => [h.id, h.score]));
}
const CONTENT = {
  d1: 'boundary layer transition on a flat plate',
  d2: 'heat transfer in supersonic flow',
  d3: 'transition to turbulence in the boundary layer of a cone',
  d4: 'layer one layer two',
};

describe('stand-in Elasticsearch', () => {
  it('passes the official client product check and reports a version', async () => {
    const info = await client.info();
    expect(info.version.number).toBe('8.19.2');
    expect(es.requestsTo('/')[0]!.headers['user-agent']).toMatch(/elasticsearch-js/);
  });

  it('answers match on a nested field with BM25 scores of the embedded engine, in Elasticsearch shape', async () => {
    const response = await client.search({
      index: 'library',
      query: { match: { 'body.content': 'boundary layer transition' } },
    });
    const expected = bm25(CONTENT, 'boundary layer transition');
    expect(response.hits.total).toEqual({ value: expected.size, relation: 'eq' });
    expect(response.hits.hits.map((h) => [h._id, h._score])).toEqual(
      [...expected].sort((a, b) => b[1] - a[1]).map(([id, s]) => [id, s]),
    );
    expect(response.hits.max_score).toBe(Math.max(...expected.values()));
    expect(response.hits.hits[0]).toMatchObject({
      _index: 'library',
      _source: DOCS.find((d) => d._id === response.hits.hits[0]!._id)!._source,
    });
  });

  it('pages with from/size, filters _source, and leaves out hits.total when track_total_hits is false', async () => {
    const all = await client.search({ index: 'library', query: { match: { 'body.content': 'layer' } }, size: 10 });
    const page = await client.search({
      index: 'library',
      query: { match: { 'body.content': 'layer' } },
      from: 1,
      size: 2,
      _source: ['body.content'],
      track_total_hits: false,
    });
    expect(page.hits.hits.map((h) => h._id)).toEqual(all.hits.hits.slice(1, 3).map((h) => h._id));
    expect(page.hits.total).toBeUndefined();
    for (const hit of page.hits.hits) expect(Object.keys(hit._source as object)).toEqual(['body']);
    const excluded = await client.search({
      index: 'library',
      query: { ids: { values: ['d1'] } },
      _source: { excludes: ['meta.*'] },
    });
    expect(excluded.hits.hits[0]!._source).toEqual({ body: DOCS[0]!._source.body, meta: {} });
    const none = await client.search({ index: 'library', query: { ids: { values: ['d1'] } }, _source: false });
    expect(none.hits.hits[0]!._source).toBeUndefined();
  });

  it('combines multi_match fields with boosts (best_fields) and bool must/should/filter', async () => {
    const multi = await client.search({
      index: 'library',
      query: { multi_match: { query: 'plate heat', fields: ['body.content', 'meta.title^2'] } },
    });
    const content = bm25(CONTENT, 'plate heat');
    const titles = bm25({ d1: 'Flat plate', d2: 'Heat', d3: 'Cone', d4: 'Arrays' }, 'plate heat');
    for (const hit of multi.hits.hits) {
      const best = Math.max(content.get(hit._id!) ?? 0, Math.fround(2 * (titles.get(hit._id!) ?? 0)));
      expect(hit._score).toBe(Math.fround(best));
    }
    const bool = await client.search({
      index: 'library',
      query: {
        bool: {
          must: [{ match: { 'body.content': 'boundary' } }],
          should: [{ match: { 'meta.title': 'cone' } }],
          filter: [{ term: { 'meta.lang': 'en' } }],
        },
      },
    });
    expect(bool.hits.hits.map((h) => h._id)).toEqual(['d1']);
    expect(bool.hits.hits[0]!._score).toBe(bm25(CONTENT, 'boundary').get('d1'));
    const keyword = await client.count({ index: 'library', query: { term: { 'meta.lang.keyword': 'de' } } });
    expect(keyword.count).toBe(1);
  });

  it('answers match_all, query_string with field prefixes, operator and, and the q parameter', async () => {
    const all = await client.search({ index: 'library', query: { match_all: {} } });
    expect(all.hits.hits.map((h) => [h._id, h._score])).toEqual(DOCS.map((d) => [d._id, 1]));
    const qs = await client.search({
      index: 'library',
      query: { query_string: { query: 'meta.title:cone OR "heat"' } },
    });
    expect(new Set(qs.hits.hits.map((h) => h._id))).toEqual(new Set(['d2', 'd3']));
    const and = await client.search({
      index: 'library',
      query: { match: { 'body.content': { query: 'boundary cone', operator: 'and' } } },
    });
    expect(and.hits.hits.map((h) => h._id)).toEqual(['d3']);
    const q = await client.search({ index: 'library', q: 'supersonic' });
    expect(q.hits.hits.map((h) => h._id)).toEqual(['d2']);
  });

  it('answers _msearch per search, with errors in place, and _count and _mapping', async () => {
    const result = await client.msearch({
      searches: [
        { index: 'library' },
        { query: { match: { 'body.content': 'heat' } } },
        { index: 'missing' },
        { query: { match_all: {} } },
        { index: 'other' },
        { query: { match: { text: 'boundary' } } },
      ],
    });
    expect(result.responses).toHaveLength(3);
    const [first, second, third] = result.responses as unknown as Array<Record<string, unknown>>;
    expect((first as { hits: { hits: Array<{ _id: string }> } }).hits.hits.map((h) => h._id)).toEqual(['d2']);
    expect(second).toMatchObject({ status: 404, error: { type: 'index_not_found_exception' } });
    expect((third as { hits: { hits: Array<{ _index: string }> } }).hits.hits[0]!._index).toBe('other');
    expect(es.requestsTo('/_msearch').at(-1)!.headers['content-type']).toMatch(/x-ndjson/);

    expect((await client.count({ index: 'library' })).count).toBe(4);
    const mapping = await client.indices.getMapping({ index: 'library' });
    expect(mapping['library']!.mappings.properties!['body']).toEqual({
      properties: { content: { type: 'text', fields: { keyword: { type: 'keyword', ignore_above: 256 } } } },
    });
    expect(
      (mapping['library']!.mappings.properties!['meta'] as { properties: Record<string, unknown> }).properties['year'],
    ).toEqual({ type: 'long' });
  });

  it('answers errors in Elasticsearch shape: missing index, unknown query, unknown body key', async () => {
    const missing = await caught(client.search({ index: 'nope', query: { match_all: {} } }));
    expect(missing).toBeInstanceOf(errors.ResponseError);
    expect((missing as errors.ResponseError).statusCode).toBe(404);
    expect((missing as errors.ResponseError).body).toMatchObject({
      error: {
        type: 'index_not_found_exception',
        reason: 'no such index [nope]',
        root_cause: [{ type: 'index_not_found_exception' }],
      },
      status: 404,
    });
    const unknown = (await caught(
      client.search({ index: 'library', query: { fancy: {} } as never }),
    )) as errors.ResponseError;
    expect(unknown.statusCode).toBe(400);
    expect(unknown.body).toMatchObject({ error: { type: 'parsing_exception', reason: 'unknown query [fancy]' } });
    const key = (await caught(
      client.transport.request({ method: 'POST', path: '/library/_search', body: { rerank: { query: 'x' } } }),
    )) as errors.ResponseError;
    expect(key.body).toMatchObject({
      error: { type: 'parsing_exception', reason: 'Unknown key for a START_OBJECT in [rerank].' },
    });
  });

  it('records what it received: method, raw target, headers and body', async () => {
    es.clearRequests();
    await client.search(
      { index: 'library', query: { match: { 'body.content': 'heat' } }, size: 3 },
      { headers: { 'x-opaque-id': 'probe' } },
    );
    expect(es.requests).toHaveLength(1);
    const got = es.requests[0]!;
    expect(got.method).toBe('POST');
    expect(got.path).toBe('/library/_search');
    expect(got.headers['x-opaque-id']).toBe('probe');
    expect(JSON.parse(got.body)).toEqual({ query: { match: { 'body.content': 'heat' } }, size: 3 });
  });

  it("takes dotrank's own index creation and bulk ingest, and answers the source's searches", async () => {
    const source = createElasticsearchSource(
      loadConfig({ ELASTICSEARCH_URL: es.url, ELASTICSEARCH_INDEX: 'ingested' }),
    );
    try {
      await source.ensureIndex({ k1: 1.2, b: 0.75 });
      const report = await source.index([
        { id: 'p1', title: 'Flutter', text: 'wing flutter at transonic speed' },
        { id: 'p2', text: 'boundary layer suction', metadata: { lang: 'en' } },
      ]);
      expect(report).toMatchObject({ indexed: 2, failed: 0 });
      expect(await source.count()).toBe(2);
      expect((await source.ensureIndex({ k1: 1.2, b: 0.75 })).created).toBe(false);
      const hits = await source.search('flutter', { k: 5 });
      expect(hits.map((h) => [h.id, h.text])).toEqual([['p1', 'Flutter wing flutter at transonic speed']]);
      expect((await source.search('suction', { k: 5, filter: { lang: 'en' } })).map((h) => h.id)).toEqual(['p2']);
    } finally {
      await source.close();
      es.indices.delete('ingested');
    }
  });

  it('serves several indices, wildcards and _all like Elasticsearch, and requires configured credentials', async () => {
    const both = await client.search({ index: 'library,other', query: { match: { 'body.content': 'boundary' } } });
    expect(both.hits.hits.every((h) => h._index === 'library')).toBe(true);
    const all = await client.search({ index: '_all', query: { match_all: {} } });
    expect(all.hits.total).toEqual({ value: 5, relation: 'eq' });
    const secured = await startStandInElasticsearch({
      authorization: 'ApiKey c2VjcmV0',
      indices: { a: { documents: [] } },
    });
    const anonymous = new Client({ node: secured.url });
    const keyed = new Client({ node: secured.url, auth: { apiKey: 'c2VjcmV0' } });
    try {
      const denied = (await caught(anonymous.count({ index: 'a' }))) as errors.ResponseError;
      expect(denied.statusCode).toBe(401);
      expect(denied.body).toMatchObject({ error: { type: 'security_exception' } });
      expect((await keyed.count({ index: 'a' })).count).toBe(0);
    } finally {
      await anonymous.close();
      await keyed.close();
      await secured.close();
    }
  });
});
