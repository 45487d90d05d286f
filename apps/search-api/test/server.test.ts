import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DotrankError } from '@dotrank/core';
import { RerankJobFailedError } from '@dotrank/rerank-core';
import { buildServer } from '../src/index.js';
import type { ServerOptions } from '../src/index.js';
import { FakeReranker, FakeSource, PASSAGES } from './fakes.js';

let source: FakeSource;
let reranker: FakeReranker;
let app: FastifyInstance;

async function make(
  options: ServerOptions = {},
  extra: Partial<Parameters<typeof buildServer>[0]> = {},
): Promise<FastifyInstance> {
  source = new FakeSource();
  await source.index(PASSAGES);
  reranker = new FakeReranker();
  return buildServer(
    { source, reranker, mode: 'in-process', ...extra },
    { logger: false, deadlineMs: 200, ...options },
  );
}

describe('/search', () => {
  beforeEach(async () => {
    app = await make();
  });
  afterEach(async () => {
    await app.close();
  });

  it('reranks the first-stage candidates and reports per-stage timings (GET)', async () => {
    const res = await app.inject({ method: 'GET', url: '/search?q=boundary%20layer%20flat&k=2' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    // first stage: p1, p4 (3 terms each), then p2; the fake model prefers the shortest text (p2).
    expect(body.query).toBe('boundary layer flat');
    expect(body.fusion).toBe('tasb');
    expect(body.degraded).toBe(false);
    expect(body.reason).toBeUndefined();
    expect(body.results.map((r: { id: string }) => r.id)).toEqual(['p2', 'p4']);
    expect(body.results[0]).toMatchObject({ id: 'p2', rank: 1, bm25Score: 2, text: PASSAGES[1]!.text });
    expect(body.results[0].score).toBeCloseTo(100 / PASSAGES[1]!.text.length);
    expect(body.results[0].tasbScore).toBe(body.results[0].score);
    expect(Object.keys(body.timings)).toEqual(
      expect.arrayContaining([
        'firstStageMs',
        'rerankMs',
        'totalMs',
        'encodeQueryMs',
        'cacheReadMs',
        'encodeMissesMs',
        'scoreMs',
        'queueWaitMs',
        'workerTotalMs',
      ]),
    );
    expect(body.cache).toEqual({ hits: 1, misses: 2 });
    expect(reranker.calls[0]).toMatchObject({ query: 'boundary layer flat', fusion: 'tasb', k: 2 });
    expect(reranker.calls[0]!.candidates.map((c) => c.id)).toEqual(['p1', 'p4', 'p2']);
  });

  it('accepts a JSON body with filter, candidates and alpha', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/search',
      payload: {
        q: 'boundary layer',
        k: 1,
        candidates: 5,
        fusion: 'interpolate',
        alpha: 0.3,
        filter: { topic: 'flow' },
      },
    });
    expect(res.statusCode).toBe(200);
    expect(reranker.calls[0]).toMatchObject({ fusion: 'interpolate', alpha: 0.3, k: 1 });
    expect(reranker.calls[0]!.candidates.map((c) => c.id).sort()).toEqual(['p1', 'p4']);
    expect(res.json().results).toHaveLength(1);
  });

  it('fusion=bm25 serves the first-stage order without calling the reranker', async () => {
    const res = await app.inject({ method: 'GET', url: '/search?q=boundary%20layer%20flat&fusion=bm25' });
    const body = res.json();
    expect(body.results.map((r: { id: string }) => r.id)).toEqual(['p1', 'p4', 'p2']);
    expect(body.results[0]).toMatchObject({ rank: 1, score: 3, bm25Score: 3 });
    expect(body.degraded).toBe(false);
    expect(reranker.calls).toHaveLength(0);
  });

  it('degrades to the BM25 order with reason timeout when the deadline passes', async () => {
    reranker.delayMs = 5_000;
    const res = await app.inject({ method: 'GET', url: '/search?q=boundary%20layer%20flat&deadlineMs=50' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({
      degraded: true,
      reason: 'timeout',
      detail: 'deadlineMs: rerank did not finish within 50 ms',
    });
    expect(body.results.map((r: { id: string }) => r.id)).toEqual(['p1', 'p4', 'p2']);
    expect(body.results[0]).toMatchObject({ score: 3, bm25Score: 3 });
  });

  it('degrades with reason rerank_failed and the message in detail when the worker fails', async () => {
    reranker.failWith = new Error('onnx exploded');
    const body = (await app.inject({ method: 'GET', url: '/search?q=boundary' })).json();
    expect(body).toMatchObject({ degraded: true, reason: 'rerank_failed', detail: 'onnx exploded' });
  });

  it('maps reranker error codes: timeout, unavailable, and a job the worker failed whatever its code', async () => {
    reranker.failWith = new DotrankError('timeout', 'rerank deadline of 10 ms passed');
    expect((await app.inject({ url: '/search?q=boundary' })).json()).toMatchObject({
      reason: 'timeout',
      detail: 'rerank deadline of 10 ms passed',
    });
    reranker.failWith = new DotrankError('unavailable', 'redis down', { field: 'queue' });
    expect((await app.inject({ url: '/search?q=boundary' })).json()).toMatchObject({
      reason: 'queue_unavailable',
      detail: 'queue: redis down',
    });
    reranker.failWith = new RerankJobFailedError(
      { code: 'unavailable', field: 'payload', message: 'could not read the payload' },
      'j1',
    );
    expect((await app.inject({ url: '/search?q=boundary' })).json()).toMatchObject({
      reason: 'rerank_failed',
      detail: 'payload: could not read the payload',
    });
  });

  it('returns an empty list for a query without matches', async () => {
    const body = (await app.inject({ url: '/search?q=zeppelin' })).json();
    expect(body).toMatchObject({ results: [], degraded: false });
  });

  it('honours and echoes x-request-id, and passes it to the reranker', async () => {
    const res = await app.inject({ url: '/search?q=boundary', headers: { 'x-request-id': 'abc-123' } });
    expect(res.headers['x-request-id']).toBe('abc-123');
    expect(res.json().requestId).toBe('abc-123');
    expect(reranker.calls[0]!.requestId).toBe('abc-123');
    const generated = await app.inject({ url: '/healthz' });
    expect(generated.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('/search degraded when the queue is known to be down', () => {
  it('answers queue_unavailable without waiting for the deadline', async () => {
    const server = await make({ deadlineMs: 60_000 }, { mode: 'queue', queueAvailable: () => false });
    try {
      const body = (await server.inject({ url: '/search?q=boundary' })).json();
      expect(body).toMatchObject({ degraded: true, reason: 'queue_unavailable', detail: 'Redis is not connected' });
      expect(reranker.calls).toHaveLength(0);
    } finally {
      await server.close();
    }
  });
});

describe('input validation', () => {
  beforeAll(async () => {
    app = await make({ bodyLimit: 64 * 1024 });
  });
  afterAll(async () => {
    await app.close();
  });

  const bad: [string, { url?: string; payload?: unknown; raw?: string }, string][] = [
    ['missing q', { url: '/search' }, 'q'],
    ['empty q', { url: '/search?q=%20%20' }, 'q'],
    ['q over 10 kB', { payload: { q: 'a'.repeat(10 * 1024 + 1) } }, 'q'],
    ['k zero', { url: '/search?q=x&k=0' }, 'k'],
    ['k over 1000', { url: '/search?q=x&k=1001&candidates=1000' }, 'k'],
    ['k not a number', { url: '/search?q=x&k=ten' }, 'k'],
    ['k fractional', { url: '/search?q=x&k=1.5' }, 'k'],
    ['candidates < k', { url: '/search?q=x&k=20&candidates=10' }, 'candidates'],
    ['candidates > max', { url: '/search?q=x&candidates=1001' }, 'candidates'],
    ['unknown fusion', { url: '/search?q=x&fusion=magic' }, 'fusion'],
    ['alpha out of range', { url: '/search?q=x&alpha=2' }, 'alpha'],
    ['deadline over the cap', { url: '/search?q=x&deadlineMs=999999' }, 'deadlineMs'],
    ['q of the wrong type', { payload: { q: 42 } }, 'q'],
    ['k as a string in JSON', { payload: { q: 'x', k: '10' } }, 'k'],
    ['fusion of the wrong type', { payload: { q: 'x', fusion: 1 } }, 'fusion'],
    ['filter not an object', { payload: { q: 'x', filter: [1] } }, 'filter'],
    ['filter value an object', { payload: { q: 'x', filter: { a: { b: 1 } } } }, 'filter.a'],
    ['unknown field', { payload: { q: 'x', size: 3 } }, 'size'],
    ['body not an object', { payload: [1, 2] }, 'body'],
    ['malformed JSON', { raw: '{"q": "x",' }, 'body'],
  ];
  for (const [name, input, field] of bad) {
    it(`400 naming the field: ${name}`, async () => {
      const res =
        input.url !== undefined
          ? await app.inject({ method: 'GET', url: input.url })
          : await app.inject({
              method: 'POST',
              url: '/search',
              headers: { 'content-type': 'application/json' },
              payload: input.raw ?? JSON.stringify(input.payload),
            });
      expect(res.statusCode).toBe(400);
      const body = res.json();
      expect(body).toMatchObject({ error: 'invalid_input', field });
      expect(body.message).toContain(field);
    });
  }

  it('413 with a clear message for a body over the limit', async () => {
    const res = await app.inject({ method: 'POST', url: '/search', payload: { q: 'x'.repeat(70 * 1024) } });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ error: 'payload_too_large', field: 'body' });
    expect(res.json().message).toMatch(/65536 byte limit/);
  });

  it('404 in JSON for unknown paths', async () => {
    const res = await app.inject({ url: '/nope' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ error: 'not_found', field: 'path' });
  });
});

describe('API key', () => {
  beforeAll(async () => {
    app = await make({ apiKey: 's3cret' });
  });
  afterAll(async () => {
    await app.close();
  });

  it('401 without or with a wrong key', async () => {
    for (const headers of [
      {},
      { 'x-api-key': 'nope' },
      { authorization: 'ApiKey nope' },
      { authorization: 'Bearer nope' },
      { authorization: 's3cret' },
    ]) {
      const res = await app.inject({ url: '/search?q=boundary', headers });
      expect(res.statusCode).toBe(401);
      expect(res.json()).toMatchObject({ error: 'unauthorized' });
    }
    expect((await app.inject({ url: '/metrics' })).statusCode).toBe(401);
    expect((await app.inject({ url: '/docs/json' })).statusCode).toBe(401);
  });

  it('accepts x-api-key, Authorization: ApiKey and Authorization: Bearer', async () => {
    expect((await app.inject({ url: '/search?q=boundary', headers: { 'x-api-key': 's3cret' } })).statusCode).toBe(200);
    expect(
      (await app.inject({ url: '/search?q=boundary', headers: { authorization: 'ApiKey s3cret' } })).statusCode,
    ).toBe(200);
    expect(
      (await app.inject({ url: '/search?q=boundary', headers: { authorization: 'Bearer s3cret' } })).statusCode,
    ).toBe(200);
    expect((await app.inject({ url: '/metrics', headers: { authorization: 'bearer s3cret' } })).statusCode).toBe(200);
  });

  it('leaves health probes open', async () => {
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200);
    expect((await app.inject({ url: '/readyz' })).statusCode).toBe(200);
  });
});

describe('health, readiness, metrics, stats, docs', () => {
  let redisUp = true;
  beforeAll(async () => {
    app = await make(
      {},
      {
        mode: 'queue',
        readiness: { model: async () => true, redis: async () => redisUp },
        queueStats: async () => ({ depth: 7, activeWorkers: 2 }),
      },
    );
  });
  afterAll(async () => {
    await app.close();
  });

  it('/healthz', async () => {
    expect((await app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
  });

  it('/readyz names what is not reachable', async () => {
    const ok = await app.inject({ url: '/readyz' });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ status: 'ready', mode: 'queue', checks: { source: 'ok', model: 'ok', redis: 'ok' } });
    redisUp = false;
    source.reachable = false;
    const down = await app.inject({ url: '/readyz' });
    expect(down.statusCode).toBe(503);
    expect(down.json()).toMatchObject({
      status: 'not_ready',
      failing: ['redis', 'source'],
      checks: { model: 'ok', redis: 'unavailable', source: 'unavailable' },
    });
    redisUp = true;
    source.reachable = true;
  });

  it('/metrics exposes request counts, stage histograms, degraded reasons, cache and queue gauges', async () => {
    await app.inject({ url: '/search?q=boundary' });
    reranker.failWith = new Error('boom');
    await app.inject({ url: '/search?q=boundary' });
    reranker.failWith = undefined;
    await app.inject({ url: '/search?q=' });
    const res = await app.inject({ url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    const text = res.body;
    expect(text).toMatch(/dotrank_http_requests_total\{route="\/search",method="GET",status="200"\} 2/);
    expect(text).toMatch(/dotrank_http_requests_total\{route="\/search",method="GET",status="400"\} 1/);
    expect(text).toMatch(/dotrank_search_stage_duration_seconds_count\{stage="firstStage"\} 2/);
    expect(text).toMatch(/dotrank_search_stage_duration_seconds_count\{stage="encodeQuery"\} 1/);
    expect(text).toMatch(/dotrank_degraded_responses_total\{reason="rerank_failed"\} 1/);
    expect(text).toMatch(/dotrank_vector_cache_lookups_total\{result="hit"\} 1/);
    expect(text).toMatch(/dotrank_queue_depth 7/);
    expect(text).toMatch(/dotrank_queue_active_workers 2/);
  });

  it('/api/stats summarises the last minute', async () => {
    const body = (await app.inject({ url: '/api/stats' })).json();
    expect(body).toMatchObject({
      mode: 'queue',
      windowSeconds: 60,
      requests: 2,
      queueDepth: 7,
      activeWorkers: 2,
      degradedRate: 0.5,
    });
    expect(body.requestsPerSecond).toBeCloseTo(2 / 60);
    expect(body.cacheHitRatio).toBeCloseTo(1 / 3);
    expect(body.latencyMs.firstStage).toEqual({
      p50: expect.any(Number),
      p95: expect.any(Number),
      p99: expect.any(Number),
    });
  });

  it('/docs serves the OpenAPI description and the UI', async () => {
    const spec = (await app.inject({ url: '/docs/json' })).json();
    expect(spec.openapi).toMatch(/^3\./);
    expect(Object.keys(spec.paths)).toEqual(
      expect.arrayContaining(['/search', '/healthz', '/readyz', '/metrics', '/api/stats']),
    );
    expect(spec.paths['/search'].get.parameters.map((p: { name: string }) => p.name)).toEqual(
      expect.arrayContaining(['q', 'k', 'candidates', 'fusion']),
    );
    const ui = await app.inject({ url: '/docs/' });
    expect(ui.statusCode).toBe(200);
    expect(ui.body).toMatch(/swagger/i);
  });

  it('closes the reranker through onClose', async () => {
    let closed = false;
    const server = await make({}, { onClose: async () => void (closed = true) });
    await server.close();
    expect(closed).toBe(true);
  });
});

describe('eval outputs and the dashboard hook', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dotrank-api-evals-'));
    const evalDir = join(root, 'evals');
    await mkdir(join(evalDir, 'cranfield-tasb', 'runs'), { recursive: true });
    await writeFile(
      join(evalDir, 'cranfield-tasb', 'metrics.json'),
      JSON.stringify({ systems: { bm25: { ndcg_cut_10: 0.4 } } }),
    );
    await writeFile(
      join(evalDir, 'cranfield-tasb', 'runs', 'bm25.run'),
      '1 Q0 d7 1 12.5 bm25\n1 Q0 d3 2 11 bm25\n2 Q0 d9 1 3.25 bm25\n',
    );
    await writeFile(join(evalDir, 'cranfield-tasb', 'runs', 'broken.run'), '1 Q0 d7 one 12.5 bm25\n');
    // `dotrank eval` layout: <system>.run beside metrics.json
    await writeFile(join(evalDir, 'cranfield-tasb', 'tasb.run'), '1 Q0 d3 1 0.9 tasb\n');
    // drill-down sources inside the eval folder (routes/evals-extra.ts)
    await writeFile(join(evalDir, 'cranfield-tasb', 'qrels.trec'), '1 0 d7 2\n1 0 d3 0\n');
    await writeFile(
      join(evalDir, 'cranfield-tasb', 'queries.jsonl'),
      '{"_id":"1","text":"what is a boundary layer"}\n',
    );
    await writeFile(
      join(evalDir, 'cranfield-tasb', 'corpus.jsonl'),
      '{"_id":"d7","title":"Flow","text":"boundary layer on a plate"}\n',
    );
    await mkdir(join(evalDir, 'not-an-eval'));
    await writeFile(join(root, 'secret.json'), '{"password":"x"}');
    await mkdir(join(evalDir, 'escape'));
    await symlink(join(root, 'secret.json'), join(evalDir, 'escape', 'metrics.json'));
    await mkdir(join(root, 'dash'));
    await writeFile(join(root, 'dash', 'index.html'), '<!doctype html><title>dotrank</title>');
    app = await make({ evalDir, dashboardDir: join(root, 'dash') });
  });
  afterAll(async () => {
    await app.close();
    await rm(root, { recursive: true, force: true });
  });

  it('lists folders with a metrics.json (not symlinks out of the folder)', async () => {
    const body = (await app.inject({ url: '/api/evals' })).json();
    expect(body.evals.map((e: { name: string }) => e.name)).toEqual(['cranfield-tasb']);
    expect(body.evals[0].systems).toEqual(['bm25', 'broken', 'tasb']);
  });

  it('serves metrics and run rows', async () => {
    expect((await app.inject({ url: '/api/evals/cranfield-tasb/metrics' })).json()).toEqual({
      systems: { bm25: { ndcg_cut_10: 0.4 } },
    });
    const run = (await app.inject({ url: '/api/evals/cranfield-tasb/runs/bm25' })).json();
    expect(run.rows).toEqual([
      { qid: '1', docid: 'd7', rank: 1, score: 12.5, tag: 'bm25' },
      { qid: '1', docid: 'd3', rank: 2, score: 11, tag: 'bm25' },
      { qid: '2', docid: 'd9', rank: 1, score: 3.25, tag: 'bm25' },
    ]);
    expect((await app.inject({ url: '/api/evals/cranfield-tasb/runs/tasb' })).json().rows).toEqual([
      { qid: '1', docid: 'd3', rank: 1, score: 0.9, tag: 'tasb' },
    ]);
    const one = (await app.inject({ url: '/api/evals/cranfield-tasb/runs/bm25?qid=2' })).json();
    expect(one.rows).toHaveLength(1);
    const broken = await app.inject({ url: '/api/evals/cranfield-tasb/runs/broken' });
    expect(broken.statusCode).toBe(400);
    expect(broken.json().field).toBe('broken.run:1');
  });

  it('serves the drill-down: qrels, query text and passage text', async () => {
    expect((await app.inject({ url: '/api/evals/cranfield-tasb/qrels/1' })).json()).toEqual({
      name: 'cranfield-tasb',
      qid: '1',
      judgments: { d7: 2, d3: 0 },
    });
    expect((await app.inject({ url: '/api/evals/cranfield-tasb/queries/1' })).json()).toMatchObject({
      qid: '1',
      text: 'what is a boundary layer',
    });
    const passage = (await app.inject({ url: '/api/evals/cranfield-tasb/passages/d7' })).json();
    expect(passage).toMatchObject({ id: 'd7', title: 'Flow' });
    expect(passage.text).toContain('boundary layer on a plate');
    expect((await app.inject({ url: '/api/evals/cranfield-tasb/passages/nope' })).statusCode).toBe(404);
    expect((await app.inject({ url: '/api/evals/escape/passages/d7' })).statusCode).toBe(404);
  });

  it('refuses path traversal', async () => {
    for (const url of [
      '/api/evals/..%2F..%2Fetc/metrics',
      '/api/evals/../metrics',
      '/api/evals/%2e%2e/metrics',
      '/api/evals/escape/metrics',
      '/api/evals/cranfield-tasb/runs/..%2F..%2Fsecret.json',
      '/api/evals/cranfield-tasb/runs/..%2Fmetrics.json',
    ]) {
      const res = await app.inject({ url });
      expect([400, 404]).toContain(res.statusCode);
      expect(res.body).not.toContain('password');
    }
    expect((await app.inject({ url: '/api/evals/nope/metrics' })).statusCode).toBe(404);
  });

  it('serves the dashboard build at /dashboard/', async () => {
    const res = await app.inject({ url: '/dashboard/' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('<title>dotrank</title>');
  });
});
