// The official client -> the proxy (real API, in-process reranker over the tiny model) -> the stand-in Elasticsearch
// with its text in a nested field (`body.content`): exact TAS-B order and scores, pages of the reranked window (the
// second costs no rerank), text_similarity_reranker with Elasticsearch's score mapping, _msearch, and every probe of
// the proxy's scope refused.
import { request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@elastic/elasticsearch';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { tinyModelDir } from '@dotrank/core/testing';
import { MemoryWindowStore, elasticsearchRerankScore } from '@dotrank/elasticsearch';
import { startStandInElasticsearch } from '@dotrank/elasticsearch/testing';
import type { StandInElasticsearch } from '@dotrank/elasticsearch/testing';
import { loadEncoder } from '@dotrank/encoder';
import type { Encoder } from '@dotrank/encoder';
import { InProcessReranker } from '@dotrank/rerank-core';
import type { RerankRequest } from '@dotrank/rerank-core';
import { MemoryVectorStore } from '@dotrank/vector-cache';
import { buildServer } from '../src/index.js';
import { FakeSource } from './fakes.js';

const WORDS = ['boundary', 'shock', 'heat', 'flat', 'plate', 'cone', 'wing', 'turbulent', 'laminar', 'flow', 'nozzle'];
/** 30 documents that all match "layer", with different texts (so the model orders them its own way). */
const DOCS = Array.from({ length: 30 }, (_, i) => ({
  _id: `d${String(i + 1).padStart(2, '0')}`,
  _source: {
    body: {
      content: `layer ${WORDS[i % WORDS.length]} ${WORDS[(i * 7 + 3) % WORDS.length]} ${'layer '.repeat(i % 4)}study ${i}`,
    },
    meta: { lang: i % 2 ? 'en' : 'de' },
  },
}));
const TEXT = new Map(DOCS.map((d) => [d._id, d._source.body.content]));
const QUERY = 'boundary layer flow';

interface Hit {
  _id: string;
  _score: number;
  _dotrank: { first_stage_score: number; first_stage_rank: number; tasb_score?: number };
}
interface Page {
  hits: { hits: Hit[]; max_score: number | null };
  _dotrank: { reranked: boolean; degraded: boolean; timings: Record<string, number> };
}

let es: StandInElasticsearch;
let encoder: Encoder;
let app: FastifyInstance;
let proxyUrl: string;
let client: Client;
const rerankCalls: RerankRequest[] = [];

/** The raw TAS-B dot product of the query with each document, computed with the encoder directly. */
async function tasbScores(query: string, ids: string[]): Promise<Map<string, number>> {
  const [q] = await encoder.encodeQueries([query]);
  const vectors = await encoder.encodePassages(ids.map((id) => TEXT.get(id)!));
  return new Map(ids.map((id, i) => [id, vectors[i]!.reduce((sum, v, j) => sum + v * q![j]!, 0)]));
}
/** Ids by descending score. */
const ranked = (scores: Map<string, number>) => [...scores].sort((a, b) => b[1] - a[1]).map(([id]) => id);

beforeAll(async () => {
  es = await startStandInElasticsearch({
    indices: {
      library: { documents: DOCS },
      secret: { documents: [{ _id: 's1', _source: { body: { content: 'layer' } } }] },
    },
  });
  encoder = await loadEncoder(tinyModelDir(), { intraOpThreads: 1 });
  const inner = new InProcessReranker({ encoder, store: new MemoryVectorStore({ dimension: encoder.dimension }) });
  const reranker = {
    rerank: (req: RerankRequest, opts?: Parameters<InProcessReranker['rerank']>[1]) => {
      rerankCalls.push(req);
      return inner.rerank(req, opts);
    },
    close: () => inner.close(),
  };
  app = await buildServer(
    {
      source: new FakeSource(),
      reranker,
      mode: 'in-process',
      proxy: {
        url: es.url,
        indices: ['library'],
        passage: { index: 'library', textFields: ['body.content'] },
        windowStore: new MemoryWindowStore(),
        modelRevision: 'tiny',
      },
    },
    { logger: false, deadlineMs: 30_000 },
  );
  await app.listen({ port: 0, host: '127.0.0.1' });
  proxyUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  client = new Client({ node: proxyUrl });
}, 120_000);

afterAll(async () => {
  await client?.close();
  await app?.close();
  await encoder?.close();
  await es?.close();
});

beforeEach(() => {
  rerankCalls.length = 0;
  es.clearRequests();
});

describe('the rerank section and match queries through the official client', () => {
  it('returns the exact TAS-B order of the window, pages through it, and reranks once', async () => {
    const query = { match: { 'body.content': QUERY } };
    const first = (await client.search({ index: 'library', query, size: 10 })) as unknown as Page;
    const expected = await tasbScores(
      QUERY,
      DOCS.map((d) => d._id),
    );
    const order = ranked(expected);
    expect(first.hits.hits.map((h) => h._id)).toEqual(order.slice(0, 10));
    for (const hit of first.hits.hits) {
      expect(hit._score).toBeCloseTo(expected.get(hit._id)!, 4);
      expect(hit._dotrank.tasb_score).toBe(hit._score);
    }
    expect(first._dotrank).toMatchObject({ reranked: true, degraded: false });
    // the window went to the cluster once, 100 deep, from 0
    const searches = es.requestsTo('/library/_search');
    expect(searches).toHaveLength(1);
    expect(JSON.parse(searches[0]!.body)).toMatchObject({ from: 0, size: 100 });
    // page 2: ranks 11-20 of the same window, no rerank and no cluster request
    const second = (await client.search({ index: 'library', query, size: 10, from: 10 })) as unknown as Page;
    expect(second.hits.hits.map((h) => h._id)).toEqual(order.slice(10, 20));
    expect(rerankCalls).toHaveLength(1);
    expect(es.requestsTo('/library/_search')).toHaveLength(1);
    expect(second._dotrank).toMatchObject({ reranked: true, degraded: false });
    // first-stage rank in each hit is the cluster's
    const bm25Order = (
      (await await fetch(`${es.url}/library/_search`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query, size: 30 }),
      }).then((r) => r.json())) as { hits: { hits: { _id: string }[] } }
    ).hits.hits.map((h) => h._id);
    for (const hit of [...first.hits.hits, ...second.hits.hits])
      expect(bm25Order[hit._dotrank.first_stage_rank - 1]).toBe(hit._id);
  });

  it('continues past a rerank.window in first-stage order, with no duplicate and no gap', async () => {
    const body = { query: { match: { 'body.content': 'layer study' } }, rerank: { window: 12, query: QUERY } };
    const page = async (from: number, size: number) =>
      (await client.transport.request({
        method: 'POST',
        path: '/library/_search',
        body: { ...body, from, size },
      })) as Page;
    const all = [
      ...(await page(0, 10)).hits.hits,
      ...(await page(10, 10)).hits.hits,
      ...(await page(20, 10)).hits.hits,
    ];
    expect(rerankCalls).toHaveLength(1);
    const ids = all.map((h) => h._id);
    expect(new Set(ids).size).toBe(30);
    const windowIds = all.slice(0, 12).map((h) => h._id);
    const expected = await tasbScores(QUERY, windowIds);
    expect(windowIds).toEqual(ranked(expected));
    // past the window: first-stage ranks 13, 14, … in order
    expect(all.slice(12).map((h) => h._dotrank.first_stage_rank)).toEqual(Array.from({ length: 18 }, (_, i) => 13 + i));
    expect(all.slice(0, 12).every((h) => h._dotrank.first_stage_rank <= 12)).toBe(true);
  });
});

describe('retriever.text_similarity_reranker with dotrank inference_id', () => {
  it("reranks rank_window_size hits of the inner retriever, with Elasticsearch's _score, min_score and filter", async () => {
    const request = (extra: object) =>
      client.search({
        index: 'library',
        size: 20,
        retriever: {
          text_similarity_reranker: {
            retriever: { standard: { query: { match: { 'body.content': 'layer' } } } },
            field: 'body.content',
            inference_text: QUERY,
            inference_id: 'dotrank',
            rank_window_size: 15,
            ...extra,
          },
        },
      } as never) as unknown as Promise<Page>;
    const result = await request({});
    const sent = JSON.parse(es.requestsTo('/library/_search')[0]!.body) as Record<string, unknown>;
    expect(sent).toEqual({ query: { match: { 'body.content': 'layer' } }, from: 0, size: 15 });
    expect(result.hits.hits).toHaveLength(15); // hits past the window are not returned
    const raw = await tasbScores(
      QUERY,
      result.hits.hits.map((h) => h._id),
    );
    expect(result.hits.hits.map((h) => h._id)).toEqual(ranked(raw));
    for (const hit of result.hits.hits) {
      expect(hit._dotrank.tasb_score).toBeCloseTo(raw.get(hit._id)!, 4);
      expect(hit._score).toBeCloseTo(elasticsearchRerankScore(raw.get(hit._id)!), 4);
    }
    const cut = result.hits.hits[7]!._score;
    const filtered = await request({ min_score: cut, filter: { term: { 'meta.lang': 'en' } } });
    expect(filtered.hits.hits.length).toBeGreaterThan(0);
    for (const hit of filtered.hits.hits) {
      expect(hit._score).toBeGreaterThanOrEqual(cut);
      expect(DOCS.find((d) => d._id === hit._id)!._source.meta.lang).toBe('en');
    }
  });

  it('passes another inference_id to the cluster untouched', async () => {
    const body = {
      retriever: {
        text_similarity_reranker: {
          retriever: { standard: { query: { match: { 'body.content': 'layer' } } } },
          field: 'body.content',
          inference_text: QUERY,
          inference_id: 'elastic-rerank',
        },
      },
    };
    await fetch(`${proxyUrl}/library/_search`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(rerankCalls).toHaveLength(0);
    expect(JSON.parse(es.requestsTo('/library/_search')[0]!.body)).toEqual(body);
  });
});

describe('_msearch', () => {
  it('reranks each search by the same rules and answers refused ones with an error and status', async () => {
    const result = (await client.msearch({
      searches: [
        { index: 'library' },
        { query: { match: { 'body.content': QUERY } }, size: 5, track_total_hits: true }, // not the window kept above
        { index: 'secret' },
        { query: { match: { 'body.content': 'layer' } } },
        { index: 'library' },
        { query: { term: { 'meta.lang': 'en' } }, size: 2 }, // no query text: passed through
      ],
    })) as unknown as { responses: (Page & { status: number; error?: { type: string } })[] };
    const [reranked, refused, passed] = result.responses;
    const order = ranked(
      await tasbScores(
        QUERY,
        DOCS.map((d) => d._id),
      ),
    );
    expect(reranked!.status).toBe(200);
    expect(reranked!.hits.hits.map((h) => h._id)).toEqual(order.slice(0, 5));
    expect(refused).toMatchObject({ status: 403, error: { type: 'security_exception' } });
    expect(passed, JSON.stringify(passed)).toMatchObject({ status: 200 });
    expect(passed!.hits.hits).toHaveLength(2);
    expect(rerankCalls).toHaveLength(1);
    expect(es.requestsTo(/secret/)).toHaveLength(0);
  });
});

/** node:http, so a probe can send any request target and header. */
function raw(
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body = '',
): Promise<{
  status: number;
  headers: IncomingHttpHeaders;
  json: { error?: { type: string; reason: string }; status?: number };
}> {
  return new Promise((resolve, reject) => {
    const url = new URL(proxyUrl);
    const req = httpRequest(
      { host: url.hostname, port: url.port, method, path, headers: { 'content-type': 'application/json', ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json = {};
          try {
            json = JSON.parse(text);
          } catch {
            json = { text };
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, json });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('the proxy scope (each probe of the issue)', () => {
  const query = JSON.stringify({ query: { match: { 'body.content': 'layer' } } });
  const probes: [string, string, string, number][] = [
    ['_all', 'POST', '/_all/_search', 403],
    ['a system index', 'POST', '/.security-7/_search', 403],
    ['a wildcard', 'POST', '/lib*/_search', 403],
    ['a comma list with an unlisted index', 'POST', '/library,secret/_search', 403],
    ['/_search with no index', 'POST', '/_search', 403],
    ['a dot segment', 'POST', '/../_search', 400],
    ['an encoded slash', 'POST', '/library%2F_delete_by_query/_search', 400],
    ['an absolute-form request line', 'POST', 'http://evil.example/library/_search', 400],
  ];
  for (const [name, method, path, status] of probes) {
    it(`refuses ${name} in Elasticsearch's error shape, asking the cluster nothing`, async () => {
      const res = await raw(method, path, {}, query);
      expect(res.status).toBe(status);
      expect(res.json).toMatchObject({ error: { type: expect.any(String), reason: expect.any(String) }, status });
      expect(es.requestsTo(/./)).toHaveLength(0);
    });
  }

  it('refuses queries that read other indices', async () => {
    const bodies = [
      { query: { terms: { _id: { index: 'secret', id: 's1', path: 'ids' } } } },
      { query: { more_like_this: { fields: ['body.content'], like: [{ _index: 'secret', _id: 's1' }] } } },
      { query: { percolate: { field: 'q', index: 'secret', id: 's1' } } },
    ];
    for (const body of bodies) {
      const res = await raw('POST', '/library/_search', {}, JSON.stringify(body));
      expect(res.status).toBe(403);
      expect(res.json.error?.type).toBe('security_exception');
    }
    const msearch = await raw(
      'POST',
      '/_msearch',
      { 'content-type': 'application/x-ndjson' },
      '{"index":"_all"}\n{}\n',
    );
    expect(msearch.status).toBe(200);
    expect(es.requestsTo(/./)).toHaveLength(0);
  });

  it('forwards no run-as header, cookie, forwarded-for or dotrank key: only the allow-listed headers', async () => {
    const res = await raw(
      'POST',
      '/library/_search',
      {
        cookie: 'sid=1',
        'es-security-runas-user': 'elastic',
        'x-forwarded-for': '10.0.0.9',
        'x-api-key': 'dotrank-key',
        'x-opaque-id': 'trace-7',
      },
      JSON.stringify({ query: { match: { 'body.content': 'heat layer' } } }),
    );
    expect(res.status).toBe(200);
    const got = es.requestsTo('/library/_search')[0]!.headers;
    for (const name of ['cookie', 'es-security-runas-user', 'x-forwarded-for', 'x-api-key'])
      expect(got[name]).toBeUndefined();
    expect(got['x-opaque-id']).toBe('trace-7');
  });

  it('answers 404 in Elasticsearch shape when DOTRANK_PROXY=0', async () => {
    const off = await buildServer(
      {
        source: new FakeSource(),
        reranker: { rerank: async () => ({}) as never, close: async () => {} },
        mode: 'in-process',
        proxy: { url: es.url, enabled: false },
      },
      { logger: false },
    );
    try {
      const res = await off.inject({
        method: 'POST',
        url: '/library/_search',
        payload: query,
        headers: { 'content-type': 'application/json' },
      });
      expect(res.statusCode).toBe(404);
      expect(res.json()).toMatchObject({ error: { type: 'resource_not_found_exception' }, status: 404 });
      expect(es.requestsTo(/./)).toHaveLength(0);
    } finally {
      await off.close();
    }
  });
});
