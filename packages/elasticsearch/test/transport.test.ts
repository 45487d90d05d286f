// Transport-level tests: the ES source talks to an in-memory Elasticsearch through @elastic/elasticsearch-mock,
// and every assertion is on what went over the wire (method, path, headers, JSON and NDJSON bodies) or on the
// report/error the caller sees.
import { describe, expect, it } from 'vitest';
import { errors } from '@elastic/elasticsearch';
import { ConfigError, NotFoundError, UnavailableError, ValidationError, loadConfig } from '@dotrank/core';
import type { IndexProgress, Passage } from '@dotrank/core';
import { ElasticsearchAuthError } from '../src/errors.js';
import { createElasticsearchSource, ensureIndex } from '../src/source.js';
import type { ElasticsearchSourceOptions } from '../src/options.js';
import { FakeElasticsearch, responseError } from './support/fake-es.js';
import { caught } from './support/caught.js';

const V8_JSON = 'application/vnd.elasticsearch+json; compatible-with=8';
const V8_NDJSON = 'application/vnd.elasticsearch+x-ndjson; compatible-with=8';

function setup(options: ElasticsearchSourceOptions = {}, env: Record<string, string> = {}) {
  const fake = new FakeElasticsearch();
  const config = loadConfig({ ELASTICSEARCH_URL: 'http://127.0.0.1:9200', ELASTICSEARCH_INDEX: 'docs', ...env });
  const source = createElasticsearchSource(config, { clientOptions: { Connection: fake.connection() }, ...options });
  return { fake, source };
}

const passages: Passage[] = [
  { id: 'a', title: 'Wings', text: 'Lift on a wing.', metadata: { topic: 'flow', year: 1960 } },
  { id: 'b', text: 'Heat transfer.', metadata: { topic: 'heat' } },
  { id: 'c', text: 'Shells under load.' },
];

describe('search request', () => {
  it('sends the built body to /<index>/_search with v8 compatibility headers', async () => {
    const { fake, source } = setup({ filter: { term: { 'metadata.year': 1960 } } });
    await source.index(passages);
    fake.requests.length = 0;
    const results = await source.search('wing lift', { k: 3, filter: { topic: ['flow', 'heat'] } });
    expect(results.map((r) => r.id)).toEqual(['a']);
    expect(results[0]).toMatchObject({
      id: 'a',
      text: 'Wings Lift on a wing.',
      metadata: { topic: 'flow', year: 1960 },
    });
    expect(fake.requests).toHaveLength(1);
    const [request] = fake.requests;
    expect(request!.method).toBe('POST');
    expect(request!.path).toBe('/docs/_search');
    expect(request!.headers['accept']).toBe(V8_JSON);
    expect(request!.headers['content-type']).toBe(V8_JSON);
    expect(JSON.parse(request!.body!)).toEqual({
      size: 3,
      track_total_hits: false,
      _source: { includes: ['title', 'text', 'metadata'] },
      query: {
        bool: {
          must: [
            { multi_match: { query: 'wing lift', fields: ['title', 'text'], type: 'best_fields', operator: 'or' } },
          ],
          filter: [{ terms: { 'metadata.topic': ['flow', 'heat'] } }, { term: { 'metadata.year': 1960 } }],
        },
      },
    });
    await source.close();
  });

  it('sends plain JSON media types in 7.x compatibility mode', async () => {
    const { fake, source } = setup({ compatibility: 7 });
    await source.index(passages.slice(0, 1));
    await source.search('wing', { k: 1 });
    const search = fake.sent('/_search')[0]!;
    expect(search.headers['accept']).toBe('application/json');
    expect(search.headers['content-type']).toBe('application/json');
    const bulk = fake.sent('/_bulk')[0]!;
    expect(bulk.headers['content-type']).toBe('application/x-ndjson');
    expect(bulk.headers['accept']).toBe('application/json');
    for (const r of fake.requests) expect(JSON.stringify(r.headers)).not.toContain('compatible-with');
    await source.close();
  });

  it('passes an abort signal and rejects with its reason', async () => {
    const { source } = setup();
    await source.index(passages);
    const controller = new AbortController();
    controller.abort(new Error('client went away'));
    const error = await caught(source.search('wing', { k: 1, signal: controller.signal }));
    expect(error.message).toBe('client went away');
    await source.close();
  });
});

describe('create index', () => {
  it('PUTs an explicit BM25 similarity, the standard analyzer and the dotrank mapping', async () => {
    const { fake, source } = setup({ searchFields: ['title^2', 'text'] });
    expect(await ensureIndex(source, { k1: 0.9, b: 0.4 })).toEqual({
      index: 'docs',
      created: true,
      similarity: { k1: 0.9, b: 0.4 },
    });
    const create = fake.requests.find((r) => r.method === 'PUT')!;
    expect(create.path).toBe('/docs');
    expect(create.headers['content-type']).toBe(V8_JSON);
    expect(JSON.parse(create.body!)).toEqual({
      settings: {
        number_of_shards: 1,
        similarity: { dotrank_bm25: { type: 'BM25', k1: 0.9, b: 0.4 } },
        analysis: { analyzer: { default: { type: 'standard' } } },
      },
      mappings: {
        dynamic_templates: [
          {
            dotrank_metadata_strings: {
              path_match: 'metadata.*',
              match_mapping_type: 'string',
              mapping: { type: 'keyword' },
            },
          },
        ],
        properties: {
          id: { type: 'keyword' },
          title: { type: 'text', analyzer: 'standard', similarity: 'dotrank_bm25' },
          text: { type: 'text', analyzer: 'standard', similarity: 'dotrank_bm25' },
          metadata: { type: 'object', dynamic: true },
        },
      },
    });
    await source.close();
  });

  it('leaves an existing index alone, and refuses other explicit k1/b than it has', async () => {
    const { fake, source } = setup();
    await source.ensureIndex();
    const again = await source.ensureIndex();
    expect(again).toEqual({ index: 'docs', created: false, similarity: { k1: 1.2, b: 0.75 } });
    expect(fake.requests.filter((r) => r.method === 'PUT')).toHaveLength(1);
    const error = await caught(source.ensureIndex({ k1: 2 }));
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).field).toBe('k1');
    expect(error.message).toContain('already exists with BM25 k1=1.2, b=0.75');
    await source.close();
  });

  it('treats a concurrent creation (resource_already_exists_exception) as existing', async () => {
    const { fake, source } = setup();
    fake.intercept('create', () =>
      responseError(400, {
        error: { type: 'resource_already_exists_exception', reason: 'index [docs] already exists' },
        status: 400,
      }),
    );
    fake.indices.set('docs', { definition: {}, docs: new Map() });
    fake.intercept('exists', (_p, call) => (call === 0 ? responseError(404, '') : undefined));
    expect(await source.ensureIndex()).toEqual({ index: 'docs', created: false });
    await source.close();
  });

  it('validates k1 and b', async () => {
    const { source } = setup();
    const bad = await caught(source.ensureIndex({ b: 1.5 }));
    expect(bad).toBeInstanceOf(ValidationError);
    expect((bad as ValidationError).field).toBe('b');
    expect(((await caught(source.ensureIndex({ k1: -1 }))) as ValidationError).field).toBe('k1');
    await source.close();
  });
});

describe('bulk ingest', () => {
  it('sends NDJSON action/document lines in batches, reports progress, refreshes once at the end', async () => {
    const { fake, source } = setup();
    const progress: IndexProgress[] = [];
    const report = await source.index(passages, { batchSize: 2, onProgress: (p) => progress.push(p) });
    expect(report).toMatchObject({ indexed: 3, failed: 0, skipped: 0, failures: [] });
    const bulks = fake.sent('/_bulk');
    expect(bulks.map((b) => [b.method, b.path])).toEqual([
      ['POST', '/docs/_bulk'],
      ['POST', '/docs/_bulk'],
    ]);
    expect(bulks[0]!.headers['content-type']).toBe(V8_NDJSON);
    expect(bulks[0]!.body).toBe(
      '{"index":{"_id":"a"}}\n' +
        '{"id":"a","title":"Wings","text":"Lift on a wing.","metadata":{"topic":"flow","year":1960}}\n' +
        '{"index":{"_id":"b"}}\n' +
        '{"id":"b","text":"Heat transfer.","metadata":{"topic":"heat"}}\n',
    );
    expect(bulks[1]!.body).toBe('{"index":{"_id":"c"}}\n{"id":"c","text":"Shells under load."}\n');
    expect(progress).toEqual([
      { done: 2, total: 3 },
      { done: 3, total: 3 },
    ]);
    const order = fake.requests.map((r) => `${r.method} ${r.path}`);
    expect(order).toEqual(['HEAD /docs', 'PUT /docs', 'POST /docs/_bulk', 'POST /docs/_bulk', 'GET /docs/_refresh']);
    expect(await source.count()).toBe(3);
    await source.close();
  });

  it('bounds a batch by bytes as well as by count', async () => {
    const { fake, source } = setup({ bulk: { maxBytes: 120 } });
    const report = await source.index(passages);
    expect(report.indexed).toBe(3);
    // Each pair is under 120 bytes, any two together are over: one document per request.
    expect(fake.sent('/_bulk').map((b) => b.body!.split('\n').filter(Boolean).length)).toEqual([2, 2, 2]);
    await source.close();
  });

  it('counts empty passages as skipped and malformed ones as failed, with reasons, from an async iterable', async () => {
    const { fake, source } = setup();
    async function* input(): AsyncGenerator<Passage> {
      yield { id: 'ok', text: 'Fine.' };
      yield { id: 'empty', text: '   ' };
      yield { id: '', text: 'no id' };
      yield { id: 'bad-meta', text: 'x', metadata: { tags: ['a'] as never } };
      yield { id: 'x'.repeat(600), text: 'long id' };
    }
    const progress: IndexProgress[] = [];
    const report = await source.index(input(), { onProgress: (p) => progress.push(p) });
    expect(report).toMatchObject({ indexed: 1, skipped: 1, failed: 3 });
    expect(report.failures).toEqual([
      { reason: 'id must be a non-empty string' },
      { id: 'bad-meta', reason: 'metadata.tags must be a string, a finite number or a boolean' },
      { id: 'x'.repeat(600), reason: 'id is longer than 512 bytes (Elasticsearch _id limit)' },
    ]);
    expect(progress.at(-1)).toEqual({ done: 5 });
    expect(fake.sent('/_bulk')).toHaveLength(1);
    await source.close();
  });

  it('retries a whole request answered 429, then succeeds', async () => {
    const { fake, source } = setup({ bulk: { initialBackoffMs: 1, maxBackoffMs: 5 } });
    fake.intercept('bulk', (_p, call) =>
      call < 2
        ? responseError(429, {
            error: { type: 'es_rejected_execution_exception', reason: 'rejected execution' },
            status: 429,
          })
        : undefined,
    );
    const report = await source.index(passages);
    expect(report).toMatchObject({ indexed: 3, failed: 0, skipped: 0 });
    const bulks = fake.sent('/_bulk');
    expect(bulks).toHaveLength(3);
    expect(new Set(bulks.map((b) => b.body)).size).toBe(1);
    expect(await source.count()).toBe(3);
    await source.close();
  });

  it('retries only the items answered 429, and reports per-document failures', async () => {
    const { fake, source } = setup({ bulk: { initialBackoffMs: 1, maxBackoffMs: 5 } });
    fake.intercept('bulk', (p, call) => {
      if (call > 0) return undefined;
      const ids = (p.body as Array<{ index?: { _id: string } }>).filter((l) => l.index).map((l) => l.index!._id);
      expect(ids).toEqual(['a', 'b', 'c']);
      return {
        took: 1,
        errors: true,
        items: [
          { index: { _index: 'docs', _id: 'a', status: 201, result: 'created' } },
          {
            index: {
              _index: 'docs',
              _id: 'b',
              status: 429,
              error: { type: 'es_rejected_execution_exception', reason: 'queue full' },
            },
          },
          {
            index: {
              _index: 'docs',
              _id: 'c',
              status: 400,
              error: { type: 'document_parsing_exception', reason: 'failed to parse field [metadata.year]' },
            },
          },
        ],
      };
    });
    const report = await source.index(passages);
    expect(report).toMatchObject({ indexed: 2, failed: 1, skipped: 0 });
    expect(report.failures).toEqual([
      { id: 'c', reason: '400 document_parsing_exception: failed to parse field [metadata.year]' },
    ]);
    const bulks = fake.sent('/_bulk');
    expect(bulks).toHaveLength(2);
    expect(bulks[1]!.body).toBe(
      '{"index":{"_id":"b"}}\n{"id":"b","text":"Heat transfer.","metadata":{"topic":"heat"}}\n',
    );
    await source.close();
  });

  it('gives up on items still answered 429 after the retries, naming each', async () => {
    const { fake, source } = setup({ bulk: { maxRetries: 2, initialBackoffMs: 1, maxBackoffMs: 5 } });
    fake.intercept('bulk', (p) => ({
      took: 1,
      errors: true,
      items: (p.body as Array<{ index?: { _id: string } }>)
        .filter((l) => l.index)
        .map((l) => ({
          index: {
            _id: l.index!._id,
            status: 429,
            error: { type: 'es_rejected_execution_exception', reason: 'queue full' },
          },
        })),
    }));
    const report = await source.index(passages.slice(0, 2));
    expect(report).toMatchObject({ indexed: 0, failed: 2 });
    expect(report.failures).toEqual([
      { id: 'a', reason: '429 es_rejected_execution_exception: queue full (gave up after 3 attempts)' },
      { id: 'b', reason: '429 es_rejected_execution_exception: queue full (gave up after 3 attempts)' },
    ]);
    expect(fake.sent('/_bulk')).toHaveLength(3);
    await source.close();
  });

  it('retries 5xx answers, then reports the batch as failed and goes on with the next', async () => {
    const { fake, source } = setup({ bulk: { maxRetries: 2, initialBackoffMs: 1, maxBackoffMs: 5 } });
    fake.intercept('bulk', (p) => {
      const first = (p.body as Array<{ index?: { _id: string } }>)[0]!.index!._id;
      return first === 'a'
        ? responseError(503, {
            error: { type: 'unavailable_shards_exception', reason: 'primary shard is not active' },
            status: 503,
          })
        : undefined;
    });
    const report = await source.index(passages, { batchSize: 2 });
    expect(report).toMatchObject({ indexed: 1, failed: 2, skipped: 0 });
    const reason =
      'bulk request answered 503 after 3 attempt(s): unavailable_shards_exception: primary shard is not active';
    expect(report.failures).toEqual([
      { id: 'a', reason },
      { id: 'b', reason },
    ]);
    expect(fake.sent('/_bulk')).toHaveLength(4);
    await source.close();
  });

  it('stops with a clear error on 401 during ingest', async () => {
    const { fake, source } = setup(
      { autoCreateIndex: false },
      { ELASTICSEARCH_USERNAME: 'elastic', ELASTICSEARCH_PASSWORD: 'wrong' },
    );
    fake.intercept('bulk', () =>
      responseError(401, {
        error: { type: 'security_exception', reason: 'unable to authenticate user [elastic]' },
        status: 401,
      }),
    );
    const error = await caught(source.index(passages));
    expect(error).toBeInstanceOf(ElasticsearchAuthError);
    expect((error as ElasticsearchAuthError).field).toBe('ELASTICSEARCH_USERNAME');
    expect(error.message).toBe(
      'ELASTICSEARCH_USERNAME: Elasticsearch authentication failed (bulk ingest): the credentials were rejected; check them',
    );
    expect(fake.sent('/_bulk')[0]!.headers['authorization']).toBe(
      `Basic ${Buffer.from('elastic:wrong').toString('base64')}`,
    );
    await source.close();
  });

  it('replaces a document indexed twice in one ingest with the later one', async () => {
    const { source } = setup();
    const report = await source.index(
      [
        { id: 'd', text: 'old' },
        { id: 'd', text: 'new words' },
      ],
      { batchSize: 1 },
    );
    expect(report.indexed).toBe(2);
    expect(await source.count()).toBe(1);
    expect((await source.search('words', { k: 5 })).map((c) => c.text)).toEqual(['new words']);
    await source.close();
  });
});

describe('errors at the transport level', () => {
  it('maps a missing index to NotFoundError("index") for search and count', async () => {
    const { source } = setup({ index: 'nope' });
    const error = await caught(source.search('wing', { k: 3 }));
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as NotFoundError).field).toBe('index');
    expect(error.message).toBe(
      'index: Elasticsearch index "nope" does not exist (search); create it first (ensureIndex / dotrank index)',
    );
    expect(await caught(source.count())).toBeInstanceOf(NotFoundError);
    await source.close();
  });

  it('maps 401 to an auth error naming the API key setting, and sends the key', async () => {
    const { fake, source } = setup({}, { ELASTICSEARCH_API_KEY: 'c2VjcmV0' });
    fake.intercept('search', () =>
      responseError(401, {
        error: { type: 'security_exception', reason: 'unable to authenticate with provided credentials' },
        status: 401,
      }),
    );
    const error = await caught(source.search('wing', { k: 3 }));
    expect(error).toBeInstanceOf(ElasticsearchAuthError);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ElasticsearchAuthError).status).toBe(401);
    expect(error.message).toBe(
      'ELASTICSEARCH_API_KEY: Elasticsearch authentication failed (search): the credentials were rejected; check them',
    );
    expect(fake.requests[0]!.headers['authorization']).toBe('ApiKey c2VjcmV0');
    await source.close();
  });

  it('tells a user without credentials which settings to set on 401', async () => {
    const { fake, source } = setup();
    fake.intercept('count', () =>
      responseError(401, {
        error: { type: 'security_exception', reason: 'missing authentication credentials' },
        status: 401,
      }),
    );
    const error = await caught(source.count());
    expect(error.message).toContain('set ELASTICSEARCH_API_KEY, or ELASTICSEARCH_USERNAME and ELASTICSEARCH_PASSWORD');
    expect(fake.requests[0]!.headers['authorization']).toBeUndefined();
    await source.close();
  });

  it('maps 403 to an auth error with the server reason', async () => {
    const { fake, source } = setup({}, { ELASTICSEARCH_API_KEY: 'a2V5' });
    fake.intercept('search', () =>
      responseError(403, {
        error: { type: 'security_exception', reason: 'action [indices:data/read/search] is unauthorized' },
        status: 403,
      }),
    );
    const error = await caught(source.search('wing', { k: 3 }));
    expect(error).toBeInstanceOf(ElasticsearchAuthError);
    expect((error as ElasticsearchAuthError).status).toBe(403);
    expect(error.message).toBe(
      'ELASTICSEARCH_API_KEY: Elasticsearch refused search on index "docs": the credentials lack a privilege (security_exception: action [indices:data/read/search] is unauthorized)',
    );
    await source.close();
  });

  it('maps a 400 search answer to a ValidationError on the query, and 5xx to UnavailableError', async () => {
    const { fake, source } = setup();
    await source.index(passages);
    fake.intercept('search', (_p, call) =>
      call === 0
        ? responseError(400, {
            error: { type: 'query_shard_exception', reason: 'failed to create query' },
            status: 400,
          })
        : responseError(500, {
            error: { type: 'search_phase_execution_exception', reason: 'all shards failed' },
            status: 500,
          }),
    );
    const bad = await caught(source.search('wing', { k: 3 }));
    expect(bad).toBeInstanceOf(ValidationError);
    expect(bad.message).toBe(
      'query: Elasticsearch rejected search on index "docs": query_shard_exception: failed to create query',
    );
    const down = await caught(source.search('wing', { k: 3 }));
    expect(down).toBeInstanceOf(UnavailableError);
    expect(down.message).toBe(
      'elasticsearch: Elasticsearch answered 500 to search on index "docs": search_phase_execution_exception: all shards failed',
    );
    await source.close();
  });

  it('maps a transport timeout to UnavailableError naming the timeout setting', async () => {
    const { fake, source } = setup({}, { ELASTICSEARCH_TIMEOUT_MS: '2500' });
    fake.intercept('search', () => new errors.TimeoutError('Request timed out'));
    const error = await caught(source.search('wing', { k: 3 }));
    expect(error).toBeInstanceOf(UnavailableError);
    expect(error.message).toBe(
      'elasticsearch: Elasticsearch did not answer search on index "docs" after 2500 ms (ELASTICSEARCH_TIMEOUT_MS)',
    );
    await source.close();
  });

  it('explains a 7.x server rejecting the compatible-with=8 media type', async () => {
    const { fake, source } = setup();
    fake.intercept('search', () =>
      responseError(406, {
        error: 'Content-Type header [application/vnd.elasticsearch+json; compatible-with=8] is not supported',
        status: 406,
      }),
    );
    const error = await caught(source.search('wing', { k: 3 }));
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).field).toBe('compatibility');
    expect(error.message).toContain('an Elasticsearch 7.x server needs the source option compatibility: 7');
    await source.close();
  });

  it('refuses to work after close', async () => {
    const { source } = setup();
    await source.close();
    expect(((await caught(source.count())) as ConfigError).field).toBe('source');
  });
});
