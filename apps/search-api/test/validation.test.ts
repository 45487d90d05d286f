// The route schemas validate: JSON bodies are taken as they are (no type coercion), query strings parse numbers,
// and every refusal names its field. Also /docs lists every route, the proxy's included.
import { request as httpRequest } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_QUERY_BYTES } from '@dotrank/core';
import { buildServer } from '../src/index.js';
import { FakeReranker, FakeSource, PASSAGES } from './fakes.js';

let app: FastifyInstance;
let reranker: FakeReranker;

beforeAll(async () => {
  const source = new FakeSource();
  await source.index(PASSAGES);
  reranker = new FakeReranker();
  // a proxy target nobody listens on: the body-limit test is answered before anything is forwarded
  app = await buildServer(
    { source, reranker, mode: 'in-process', proxy: { url: 'http://127.0.0.1:9' } },
    { logger: false, bodyLimit: 1024 * 1024 },
  );
});
afterAll(async () => {
  await app.close();
});

const postJson = (payload: string, contentType = 'application/json') =>
  app.inject({ method: 'POST', url: '/search', headers: { 'content-type': contentType }, payload });

function expectRefused(
  res: { statusCode: number; json(): { error: string; field: string; message: string } },
  field: string,
  message?: RegExp,
) {
  expect(res.statusCode).toBe(400);
  const body = res.json();
  expect(body).toMatchObject({ error: 'invalid_input', field });
  expect(body.message.startsWith(`${field}: `)).toBe(true);
  if (message) expect(body.message).toMatch(message);
}

describe('JSON bodies: no type coercion', () => {
  const wrongTypes: [string, string, string][] = [
    ['"k": null', '{"q":"boundary","k":null}', 'k'],
    ['"k": true', '{"q":"boundary","k":true}', 'k'],
    ['"k": "5"', '{"q":"boundary","k":"5"}', 'k'],
    ['"candidates": "100"', '{"q":"boundary","candidates":"100"}', 'candidates'],
    ['"alpha": "0.5"', '{"q":"boundary","fusion":"interpolate","alpha":"0.5"}', 'alpha'],
    ['"deadlineMs": false', '{"q":"boundary","deadlineMs":false}', 'deadlineMs'],
    ['"fusion": null', '{"q":"boundary","fusion":null}', 'fusion'],
    ['"q": null', '{"q":null}', 'q'],
    ['"q": ["a"]', '{"q":["a"]}', 'q'],
    ['"filter": "{}"', '{"q":"boundary","filter":"{}"}', 'filter'],
    ['"filter": {"topic": null}', '{"q":"boundary","filter":{"topic":null}}', 'filter.topic'],
    ['"filter": {"topic": []}', '{"q":"boundary","filter":{"topic":[]}}', 'filter.topic'],
  ];
  for (const [name, payload, field] of wrongTypes) {
    it(`refuses ${name} naming ${field}`, async () => {
      expectRefused(await postJson(payload), field, /must be/);
    });
  }

  it('says what k must be when the number is too large for JSON (1e400), not "got null"', async () => {
    const res = await postJson('{"q":"boundary","k":1e400}');
    expectRefused(res, 'k', /^k: must be an integer \(got a number too large to represent\)$/);
    expect(res.json().message).not.toMatch(/null/);
  });

  it('takes JSON numbers and applies the defaults', async () => {
    const res = await postJson('{"q":"boundary layer","k":2,"candidates":3,"filter":{"topic":["flow","heat"]}}');
    expect(res.statusCode).toBe(200);
    expect(res.json().results).toHaveLength(2);
    expect(reranker.calls.at(-1)).toMatchObject({ fusion: 'tasb', k: 2 });
  });

  it('answers 415 for a JSON body sent as text/plain', async () => {
    const res = await postJson('{"q":"boundary"}', 'text/plain');
    expect(res.statusCode).toBe(415);
    expect(res.json()).toMatchObject({ field: 'content-type', message: 'content-type: send application/json' });
  });
});

describe('query strings: numbers parsed from text', () => {
  it('takes ?k=2&candidates=3&alpha=0.5 as numbers', async () => {
    const res = await app.inject({ url: '/search?q=boundary%20layer&k=2&candidates=3&fusion=interpolate&alpha=0.5' });
    expect(res.statusCode).toBe(200);
    expect(res.json().results).toHaveLength(2);
    expect(reranker.calls.at(-1)).toMatchObject({ fusion: 'interpolate', alpha: 0.5, k: 2 });
  });

  it('parses a URL-encoded JSON filter with the body rules', async () => {
    const ok = await app.inject({
      url: `/search?q=boundary&fusion=bm25&filter=${encodeURIComponent('{"topic":"flow"}')}`,
    });
    expect(ok.statusCode).toBe(200);
    expectRefused(
      await app.inject({ url: `/search?q=boundary&filter=${encodeURIComponent('{"topic":{"a":1}}')}` }),
      'filter.topic',
    );
    expectRefused(await app.inject({ url: '/search?q=boundary&filter=not-json' }), 'filter');
  });

  const refused: [string, string, string][] = [
    ['k=five', '/search?q=x&k=five', 'k'],
    ['k repeated', '/search?q=x&k=1&k=2', 'k'],
    ['an unknown field', '/search?q=x&size=3', 'size'],
    ['deadlineMs=0', '/search?q=x&deadlineMs=0', 'deadlineMs'],
  ];
  for (const [name, url, field] of refused) {
    it(`refuses ${name} naming ${field}`, async () => {
      expectRefused(await app.inject({ url }), field);
    });
  }
});

describe('q', () => {
  it('refuses a query of only \\u0000, control characters or whitespace', async () => {
    for (const q of ['\u0000', '\u0000\u0001\t', ' \n\u200b ']) {
      expectRefused(await postJson(JSON.stringify({ q })), 'q', /visible character/);
      expectRefused(await app.inject({ url: `/search?q=${encodeURIComponent(q)}` }), 'q', /visible character/);
    }
  });

  it('refuses a q that is not UTF-8 once percent-decoded, instead of searching replacement characters', async () => {
    const calls = reranker.calls.length;
    expectRefused(await app.inject({ url: '/search?q=%FF%FE' }), 'q', /UTF-8/);
    expectRefused(await app.inject({ url: '/search?q=boundary&fusion=%C3' }), 'fusion', /UTF-8/);
    expect(reranker.calls.length).toBe(calls);
    expect((await app.inject({ url: '/search?q=caf%C3%A9' })).statusCode).toBe(200);
  });

  it(`counts UTF-8 bytes against core's MAX_QUERY_BYTES (${MAX_QUERY_BYTES})`, async () => {
    const fits = 'é'.repeat(MAX_QUERY_BYTES / 2);
    expect((await postJson(JSON.stringify({ q: fits }))).statusCode).toBe(200);
    expectRefused(
      await postJson(JSON.stringify({ q: `${fits}é` })),
      'q',
      new RegExp(`at most ${MAX_QUERY_BYTES} bytes`),
    );
  });
});

describe('/docs', () => {
  it('lists every route with its schema, the Elasticsearch proxy routes included', async () => {
    const spec = (await app.inject({ url: '/docs/json' })).json();
    expect(Object.keys(spec.paths)).toEqual(
      expect.arrayContaining([
        '/search',
        '/healthz',
        '/readyz',
        '/metrics',
        '/api/stats',
        '/{index}/_search',
        '/_search',
        '/',
      ]),
    );
    expect(Object.keys(spec.paths['/{index}/_search'])).toEqual(expect.arrayContaining(['get', 'post']));
    expect(spec.paths['/{index}/_search'].post.parameters.map((p: { name: string }) => p.name)).toContain('index');
    const body = spec.paths['/search'].post.requestBody.content['application/json'].schema;
    expect(body.properties.k).toMatchObject({ type: 'integer', minimum: 1, maximum: 1000, default: 10 });
    expect(body.additionalProperties).toBe(false);
    const reason = spec.paths['/search'].get.responses['200'].content['application/json'].schema.properties.reason;
    expect(reason.enum).toEqual(['timeout', 'queue_unavailable', 'no_workers', 'overloaded', 'rerank_failed']);
  });
});

describe('proxy body limit', () => {
  it('answers 413 to a 2 MiB body on GET /:index/_search (not a reset connection)', async () => {
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = new URL(url);
    const body = Buffer.alloc(2 * 1024 * 1024, 'a');
    const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port: Number(port),
          method: 'GET',
          path: '/cran/_search',
          headers: { 'content-type': 'application/json', 'content-length': body.length },
        },
        (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    expect(answer.status).toBe(413);
    // the proxy's own errors are in Elasticsearch's shape, so Elasticsearch clients report them
    expect(JSON.parse(answer.text)).toMatchObject({ error: { type: 'content_too_long_exception' }, status: 413 });
  });
});
