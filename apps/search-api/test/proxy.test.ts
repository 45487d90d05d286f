import { createServer, request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { Client } from '@elastic/elasticsearch';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '@dotrank/core';
import type { HitMeta, ResponseMeta } from '@dotrank/core';
import { tinyModelDir } from '@dotrank/core/testing';
import { buildServer, startServer } from '../src/index.js';
import { FakeReranker, FakeSource, PASSAGES } from './fakes.js';

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A loopback HTTP server playing Elasticsearch: records requests, answers with `next` or a search response. */
class MockCluster {
  server!: Server;
  received: Received[] = [];
  /** Raw body to answer the next search with (exact bytes); default: a hits list of PASSAGES in id order. */
  nextBody: Buffer | undefined;
  gzip = false;
  status = 200;

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.received.push({
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks),
        });
        const headers: Record<string, string> = {
          'x-elastic-product': 'Elasticsearch',
          'content-type': 'application/vnd.elasticsearch+json;compatible-with=8',
          'x-mock': 'yes',
        };
        if (req.url === '/' || req.url?.startsWith('/?')) {
          const info = Buffer.from(
            JSON.stringify({
              name: 'mock',
              cluster_name: 'mock',
              version: { number: '8.19.2', build_flavor: 'default' },
              tagline: 'You Know, for Search',
            }),
          );
          res.writeHead(200, { ...headers, 'content-length': info.length });
          res.end(req.method === 'HEAD' ? undefined : info);
          return;
        }
        if (req.url?.includes('/_count')) {
          const count = Buffer.from(
            JSON.stringify({ count: 3, _shards: { total: 1, successful: 1, skipped: 0, failed: 0 } }),
          );
          res.writeHead(200, { ...headers, 'content-length': count.length });
          res.end(count);
          return;
        }
        let body = this.nextBody ?? Buffer.from(JSON.stringify(searchResponse()));
        if (this.gzip) {
          body = gzipSync(body);
          headers['content-encoding'] = 'gzip';
        }
        res.writeHead(this.status, { ...headers, 'content-length': body.length });
        res.end(body);
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** ES order: p1 (longest text) first; the fake model prefers short texts, so a rerank puts p2 first. */
function searchResponse() {
  const hits = [PASSAGES[0]!, PASSAGES[3]!, PASSAGES[1]!].map((p, i) => ({
    _index: 'cran',
    _id: p.id,
    _score: 9 - i,
    _source: { title: `T${p.id}`, text: p.text },
  }));
  return {
    took: 3,
    timed_out: false,
    _shards: { total: 1, successful: 1, skipped: 0, failed: 0 },
    hits: { total: { value: 3, relation: 'eq' }, max_score: 9, hits },
  };
}

/** node:http lets a test send the hop-by-hop and Host headers fetch refuses to set. */
function rawPost(
  url: string,
  headers: Record<string, string>,
  body: string,
  method = 'POST',
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method, headers: { ...headers, 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

interface ProxiedHit {
  _id: string;
  _score: number;
  _source: { title: string; text: string };
  _dotrank: HitMeta;
}
interface EsJson {
  took: number;
  hits: { max_score: number | null; hits: ProxiedHit[] };
  _dotrank: ResponseMeta;
}

const mock = new MockCluster();
let clusterUrl: string;
let app: FastifyInstance;
let reranker: FakeReranker;
let proxyUrl: string;

beforeAll(async () => {
  clusterUrl = await mock.start();
});
afterAll(async () => {
  await mock.stop();
});

async function start(apiKey?: string, authorization?: string): Promise<void> {
  const source = new FakeSource();
  reranker = new FakeReranker();
  app = await buildServer(
    {
      source,
      reranker,
      mode: 'in-process',
      proxy: { url: clusterUrl, indices: ['cran'], ...(authorization ? { authorization } : {}) },
    },
    { logger: false, deadlineMs: 300, ...(apiKey ? { apiKey } : {}) },
  );
  await app.listen({ port: 0, host: '127.0.0.1' });
  proxyUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

describe('Elasticsearch rerank proxy', () => {
  beforeEach(async () => {
    mock.received = [];
    mock.nextBody = undefined;
    mock.gzip = false;
    mock.status = 200;
    await start();
  });
  afterEach(async () => {
    await app.close();
  });

  it('forwards the request for the rerank window (from 0, size 100) and reranks hits.hits', async () => {
    const body = JSON.stringify({ query: { bool: { must: [{ match: { text: 'boundary layer' } }] } }, size: 3 });
    const res = await rawPost(
      `${proxyUrl}/cran/_search?typed_keys=true`,
      {
        'content-type': 'application/json',
        'x-opaque-id': 'trace-1',
        connection: 'keep-alive, x-drop-me',
        'x-drop-me': '1',
        host: 'evil.example:9200',
      },
      body,
    );
    expect(res.status).toBe(200);
    // forwarded: same path and query string, the window's first page asked for; hop-by-hop gone; the cluster from config
    expect(mock.received).toHaveLength(1);
    const got = mock.received[0]!;
    expect(got.method).toBe('POST');
    expect(got.url).toBe('/cran/_search?typed_keys=true');
    expect(JSON.parse(got.body.toString())).toEqual({
      query: { bool: { must: [{ match: { text: 'boundary layer' } }] } },
      from: 0,
      size: 100,
    });
    expect(got.headers['x-opaque-id']).toBe('trace-1');
    expect(got.headers['x-drop-me']).toBeUndefined();
    expect(got.headers['host']).toBe(new URL(clusterUrl).host);
    // response: reordered by the model, _score replaced, the cluster's score and rank in each hit's _dotrank
    const json = JSON.parse(res.body) as EsJson;
    const hits = json.hits.hits;
    expect(hits.map((h) => h._id)).toEqual(['p2', 'p4', 'p1']);
    expect(hits.map((h) => h._dotrank)).toEqual([
      { first_stage_score: 7, first_stage_rank: 3, tasb_score: hits[0]!._score },
      { first_stage_score: 8, first_stage_rank: 2, tasb_score: hits[1]!._score },
      { first_stage_score: 9, first_stage_rank: 1, tasb_score: hits[2]!._score },
    ]);
    expect(hits[0]!._score).toBeCloseTo(100 / `Tp2 ${PASSAGES[1]!.text}`.length);
    expect(Object.keys(hits[0]!).sort()).toEqual(['_dotrank', '_id', '_index', '_score', '_source']);
    expect(json.hits.max_score).toBe(hits[0]!._score);
    expect(json.took).toBe(3);
    expect(json._dotrank).toMatchObject({ reranked: true, degraded: false, reason: null });
    expect(json._dotrank.detail).toBeUndefined();
    expect(Object.keys(json._dotrank.timings).sort()).toEqual([
      'cacheReadMs',
      'encodeMissesMs',
      'encodeQueryMs',
      'firstStageMs',
      'queueWaitMs',
      'rerankMs',
      'scoreMs',
      'totalMs',
      'workerTotalMs',
    ]);
    expect(res.headers['x-elastic-product']).toBe('Elasticsearch');
    expect(res.headers['x-mock']).toBe('yes');
    expect(res.headers['content-length']).toBe(String(Buffer.byteLength(res.body)));
    expect(reranker.calls[0]).toMatchObject({ query: 'boundary layer', fusion: 'tasb' });
    expect(reranker.calls[0]!.candidates[0]).toEqual({ id: 'p1', text: `Tp1 ${PASSAGES[0]!.text}`, score: 9 });
  });

  it('strips an explicit rerank section before forwarding and uses its query, fusion and field', async () => {
    const res = await fetch(`${proxyUrl}/cran/_search`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        query: { term: { topic: 'flow' } },
        rerank: { query: 'flat plate', fusion: 'rrf', field: 'text' },
      }),
    });
    expect(res.status).toBe(200);
    expect(JSON.parse(mock.received[0]!.body.toString())).toEqual({
      query: { term: { topic: 'flow' } },
      from: 0,
      size: 100,
    });
    expect(reranker.calls[0]).toMatchObject({ query: 'flat plate', fusion: 'rrf' });
    expect(reranker.calls[0]!.candidates[0]!.text).toBe(PASSAGES[0]!.text);
  });

  it('answers 400 naming the field of a malformed rerank section, forwarding nothing', async () => {
    const res = await fetch(`${proxyUrl}/cran/_search`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: { match: { text: 'x' } }, rerank: { fusion: 'bogus' } }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: {
        type: 'illegal_argument_exception',
        reason: expect.stringMatching(/^rerank\.fusion: must be one of/),
        root_cause: [{ type: 'illegal_argument_exception', reason: expect.stringMatching(/^rerank\.fusion/) }],
      },
      status: 400,
    });
    expect(mock.received).toHaveLength(0);
  });

  it('forwards and reranks GET /:index/_search with a JSON body', async () => {
    const body = '{"query":{"match":{"text":"boundary"}}}';
    const res = await rawPost(`${proxyUrl}/cran/_search`, { 'content-type': 'application/json' }, body, 'GET');
    expect(res.status).toBe(200);
    expect(mock.received[0]).toMatchObject({ method: 'POST', url: '/cran/_search' });
    expect(JSON.parse(mock.received[0]!.body.toString())).toEqual({ ...JSON.parse(body), from: 0, size: 100 });
    expect((JSON.parse(res.body) as EsJson).hits.hits.map((h) => h._id)).toEqual(['p2', 'p4', 'p1']);
    const metrics = (await app.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/dotrank_search_stage_duration_seconds_count\{stage="rerank"\} 1/);
  });

  it('reranks a gzip-compressed cluster response', async () => {
    mock.gzip = true;
    const res = await fetch(`${proxyUrl}/cran/_search`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: { match: { text: 'x' } } }),
    });
    const json = (await res.json()) as EsJson;
    expect(json.hits.hits.map((h: { _id: string }) => h._id)).toEqual(['p2', 'p4', 'p1']);
  });

  const passThrough: [string, string, object | undefined][] = [
    ['aggregations only (size 0)', '/cran/_search', { size: 0, aggs: { t: { terms: { field: 'topic' } } } }],
    ['a sort', '/cran/_search', { query: { match: { text: 'x' } }, sort: [{ year: 'desc' }] }],
    ['scroll', '/cran/_search?scroll=1m', { query: { match: { text: 'x' } } }],
    ['search_after', '/cran/_search', { query: { match: { text: 'x' } }, search_after: [1] }],
    ['_source: false', '/cran/_search', { query: { match: { text: 'x' } }, _source: false }],
    ['no query text', '/cran/_search', { query: { term: { topic: 'flow' } } }],
  ];
  for (const [name, path, requestBody] of passThrough) {
    it(`passes through byte-for-byte: ${name}`, async () => {
      // deliberately odd formatting: a re-serialised body would differ
      mock.nextBody = Buffer.from(
        '{ "took":1,\n  "hits": {"max_score": 2.0, "hits": [ {"_id":"p1","_score":2.0,"_source":{"text":"é a"}} ] } }\n',
      );
      const sent = Buffer.from(JSON.stringify(requestBody, null, 1));
      const res = await fetch(`${proxyUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: sent,
      });
      expect(res.status).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).equals(mock.nextBody)).toBe(true);
      expect(mock.received[0]!.body.equals(sent)).toBe(true);
      expect(mock.received[0]!.url).toBe(path);
      expect(reranker.calls).toHaveLength(0);
    });
  }

  it('passes cluster errors through unchanged', async () => {
    mock.status = 400;
    mock.nextBody = Buffer.from('{"error":{"type":"parsing_exception"},"status":400}');
    const res = await fetch(`${proxyUrl}/cran/_search`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"query":{"match":{"text":"x"}}}',
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toBe('{"error":{"type":"parsing_exception"},"status":400}');
  });

  it('degrades to the cluster order, saying why in _dotrank, when the rerank fails or times out', async () => {
    reranker.failWith = new Error('model gone');
    const res = await fetch(`${proxyUrl}/cran/_search`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"query":{"match":{"text":"x"}}}',
    });
    const json = (await res.json()) as EsJson;
    expect(json._dotrank).toMatchObject({
      reranked: false,
      degraded: true,
      reason: 'rerank_failed',
      detail: 'model gone',
    });
    expect(json._dotrank.timings.firstStageMs).toBeGreaterThan(0);
    expect(json.hits.hits.map((h) => [h._id, h._score, h._dotrank.first_stage_rank])).toEqual([
      ['p1', 9, 1],
      ['p4', 8, 2],
      ['p2', 7, 3],
    ]);
    expect(json.hits.max_score).toBe(9);
    reranker.failWith = undefined;
    reranker.delayMs = 5000;
    const slow = (await (
      await fetch(`${proxyUrl}/cran/_search`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"query":{"match":{"text":"x"}}}',
      })
    ).json()) as EsJson;
    expect(slow._dotrank).toMatchObject({ reranked: false, degraded: true, reason: 'timeout' });
    const metrics = (await app.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/dotrank_degraded_responses_total\{reason="rerank_failed"\} 1/);
    expect(metrics).toMatch(/dotrank_degraded_responses_total\{reason="timeout"\} 1/);
  });

  it('serves the official @elastic/elasticsearch client: product check, search and GET search with a q parameter', async () => {
    const client = new Client({ node: proxyUrl });
    try {
      const info = await client.info();
      expect(info.version.number).toBe('8.19.2');
      const result = await client.search<{ text: string }>({
        index: 'cran',
        query: { match: { text: 'boundary layer' } },
      });
      expect(result.hits.hits.map((h) => h._id)).toEqual(['p2', 'p4', 'p1']);
      expect(result.hits.max_score).toBe(result.hits.hits[0]!._score);
      const proxied = result as unknown as EsJson;
      expect(proxied.hits.hits[0]!._dotrank).toEqual({
        first_stage_score: 7,
        first_stage_rank: 3,
        tasb_score: proxied.hits.hits[0]!._score,
      });
      expect(proxied._dotrank).toMatchObject({ reranked: true, degraded: false, reason: null });
      const uri = await client.transport.request<{ hits: { hits: { _id: string }[] } }>({
        method: 'GET',
        path: '/cran/_search',
        querystring: { q: 'boundary' },
      });
      expect(uri.hits.hits.map((h) => h._id)).toEqual(['p2', 'p4', 'p1']);
      expect(mock.received.at(-1)!.url).toBe('/cran/_search?q=boundary');
      expect(JSON.parse(mock.received.at(-1)!.body.toString())).toEqual({ from: 0, size: 100 });
    } finally {
      await client.close();
    }
  });

  it('answers 502 naming elasticsearch when the cluster is unreachable', async () => {
    await app.close();
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const deadUrl = `http://127.0.0.1:${(dead.address() as AddressInfo).port}`;
    await new Promise<void>((r) => dead.close(() => r()));
    app = await buildServer(
      {
        source: new FakeSource(),
        reranker: new FakeReranker(),
        mode: 'in-process',
        proxy: { url: deadUrl, indices: ['cran'] },
      },
      { logger: false },
    );
    const res = await app.inject({
      method: 'POST',
      url: '/cran/_search',
      payload: { query: { match: { text: 'x' } } },
    });
    expect(res.statusCode).toBe(502);
    expect(res.json()).toMatchObject({
      error: { type: 'connect_exception', reason: expect.stringContaining(`cannot reach ${deadUrl}`) },
      status: 502,
    });
  });
  it('answers 504 naming elasticsearch when the cluster does not answer within its timeout', async () => {
    await app.close();
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const silentUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
      app = await buildServer(
        {
          source: new FakeSource(),
          reranker: new FakeReranker(),
          mode: 'in-process',
          proxy: { url: silentUrl, timeoutMs: 200, indices: ['cran'] },
        },
        { logger: false },
      );
      const res = await app.inject({
        method: 'POST',
        url: '/cran/_search',
        payload: { query: { match: { text: 'x' } } },
      });
      expect(res.statusCode).toBe(504);
      const reason = `dotrank proxy: elasticsearch: ${silentUrl} did not answer within 200 ms (ELASTICSEARCH_TIMEOUT_MS)`;
      expect(res.json()).toEqual({
        error: { type: 'timeout_exception', reason, root_cause: [{ type: 'timeout_exception', reason }] },
        status: 504,
      });
    } finally {
      silent.closeAllConnections();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });
});

describe('proxy with API-key auth', () => {
  beforeAll(async () => {
    mock.received = [];
    await start('k3y', 'ApiKey Y2x1c3Rlcg==');
  });
  afterAll(async () => {
    await app.close();
  });

  it('requires the dotrank key, and sends the cluster credentials from config instead', async () => {
    const denied = await fetch(`${proxyUrl}/cran/_search`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(denied.status).toBe(401);
    expect(mock.received).toHaveLength(0);
    const res = await fetch(`${proxyUrl}/cran/_search`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'ApiKey k3y' },
      body: '{"query":{"match":{"text":"x"}}}',
    });
    expect(res.status).toBe(200);
    expect(mock.received[0]!.headers['authorization']).toBe('ApiKey Y2x1c3Rlcg==');
    expect(mock.received[0]!.headers['x-api-key']).toBeUndefined();
  });

  it('takes the dotrank key as Authorization: Bearer too, and never forwards it', async () => {
    mock.received = [];
    const res = await fetch(`${proxyUrl}/cran/_search`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer k3y' },
      body: '{"query":{"match":{"text":"another query"}}}',
    });
    expect(res.status).toBe(200);
    expect(mock.received[0]!.headers['authorization']).toBe('ApiKey Y2x1c3Rlcg==');
    const wrong = await fetch(`${proxyUrl}/cran/_search`, {
      method: 'POST',
      headers: { authorization: 'Bearer nope' },
      body: '{}',
    });
    expect(wrong.status).toBe(401);
  });
});

describe('startServer with Elasticsearch as the first stage (in-process rerank, tiny model)', () => {
  it('searches through the Elasticsearch source and proxies /:index/_search to the same cluster', async () => {
    mock.received = [];
    mock.nextBody = undefined;
    mock.gzip = false;
    mock.status = 200;
    const running = await startServer(loadConfig({ ELASTICSEARCH_URL: clusterUrl, ELASTICSEARCH_INDEX: 'cran' }), {
      model: tinyModelDir(),
      port: 0,
      logger: false,
    });
    try {
      expect(running.mode).toBe('in-process');
      const res = await fetch(`${running.url}/search?q=boundary%20layer&k=2`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as {
        results: { id: string; bm25Score: number; tasbScore: number; score: number }[];
        degraded: boolean;
      };
      expect(body.degraded).toBe(false);
      expect(body.results).toHaveLength(2);
      for (const r of body.results) expect(['p1', 'p2', 'p4']).toContain(r.id);
      expect(mock.received.some((r) => r.url.startsWith('/cran/_search'))).toBe(true);
      const ready = await fetch(`${running.url}/readyz`);
      expect(await ready.json()).toMatchObject({ status: 'ready', checks: { source: 'ok', model: 'ok' } });
      const proxied = await fetch(`${running.url}/cran/_search`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"query":{"match":{"text":"boundary layer"}}}',
      });
      const json = (await proxied.json()) as EsJson;
      expect(json._dotrank).toMatchObject({ reranked: true, degraded: false });
      expect(json.hits.hits.map((h) => h._id).sort()).toEqual(['p1', 'p2', 'p4']);
    } finally {
      await running.close();
    }
  });
});
