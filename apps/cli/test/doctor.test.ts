import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@dotrank/core';
import { redisUrlForTests, tinyModelDir } from '@dotrank/core/testing';
import { createClientFromConfig } from '@dotrank/elasticsearch';
import {
  checkElasticsearch,
  checkEvictionPolicy,
  checkKeyPrivileges,
  checkExecutionProviders,
  checkModel,
  checkNode,
  checkRedis,
  formatChecks,
  textFieldsOf,
} from '../src/lib/doctor.js';
import { dotrank, SPAWN_TIMEOUT } from './cli.js';

const fixtureModel = tinyModelDir();
/** A port nothing listens on. */
const CLOSED = 'redis://127.0.0.1:1';

/** A fake Elasticsearch: `/` (cluster info) and `/<index>/_mapping`, with the product header the client checks. */
let fakeElasticsearch: Server;
let elasticsearchUrl: string;
const requests: string[] = [];

beforeAll(async () => {
  fakeElasticsearch = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' });
      res.end(JSON.stringify(body));
    };
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path === '/')
      return reply(200, {
        name: 'fake',
        cluster_name: 'test',
        version: { number: '8.15.0' },
        tagline: 'You Know, for Search',
      });
    if (path === '/passages/_mapping') {
      return reply(200, {
        passages: {
          mappings: {
            properties: {
              title: { type: 'text' },
              text: { type: 'text' },
              meta: { properties: { lang: { type: 'keyword' }, note: { type: 'text' } } },
            },
          },
        },
      });
    }
    if (path === '/logs/_mapping')
      return reply(200, { logs: { mappings: { properties: { message: { type: 'text' } } } } });
    return reply(404, {
      error: { type: 'index_not_found_exception', reason: `no such index [${path.split('/')[1]}]` },
      status: 404,
    });
  });
  await new Promise<void>((resolve) => fakeElasticsearch.listen(0, '127.0.0.1', resolve));
  elasticsearchUrl = `http://127.0.0.1:${(fakeElasticsearch.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => fakeElasticsearch.close(resolve));
});

describe('doctor checks', () => {
  it('node: the engines minimum', () => {
    expect(checkNode('20.19.0').status).toBe('ok');
    expect(checkNode('22.1.0').status).toBe('ok');
    expect(checkNode('20.18.3')).toMatchObject({ status: 'fail', fix: expect.stringMatching(/20\.19/) });
  });

  it('redis: the real server answers with its version and eviction policy; a closed port fails when configured', async () => {
    const [up, down] = await Promise.all([
      checkRedis({ REDIS_URL: redisUrlForTests() }),
      checkRedis({ REDIS_URL: CLOSED }),
    ]);
    expect(up[0]).toMatchObject({
      status: 'ok',
      check: 'redis',
      detail: expect.stringMatching(/answers \(Redis \d+\.\d+/),
    });
    expect(up[1]?.check).toBe('redis eviction');
    expect(down).toEqual([
      {
        status: 'fail',
        check: 'redis',
        detail: expect.stringMatching(/ECONNREFUSED/),
        fix: expect.stringMatching(/REDIS_URL/),
      },
    ]);
  });

  it('redis eviction: noeviction or allkeys-* pass, volatile-* warns with the fix', () => {
    expect(checkEvictionPolicy('noeviction').status).toBe('ok');
    expect(checkEvictionPolicy('allkeys-lru').status).toBe('ok');
    expect(checkEvictionPolicy('volatile-lru')).toMatchObject({
      status: 'warn',
      fix: expect.stringMatching(/CONFIG SET maxmemory-policy noeviction/),
    });
  });

  it('elasticsearch: version, the index and its text fields (fake cluster)', async () => {
    const config = (index: string, url = elasticsearchUrl) =>
      loadConfig({ ELASTICSEARCH_URL: url, ELASTICSEARCH_INDEX: index, ELASTICSEARCH_TIMEOUT_MS: '2000' });
    const good = await checkElasticsearch(config('passages'));
    expect(good).toEqual([
      { status: 'ok', check: 'elasticsearch', detail: `${elasticsearchUrl} answers (Elasticsearch 8.15.0)` },
      { status: 'ok', check: 'elasticsearch index', detail: 'passages: text fields title, text, meta.note' },
    ]);
    expect(requests).toContain('GET /passages/_mapping');
    const [missing, unsearchable, down] = await Promise.all([
      checkElasticsearch(config('nothing')),
      checkElasticsearch(config('logs')),
      checkElasticsearch(config('passages', 'http://127.0.0.1:1')),
    ]);
    expect(missing[1]).toMatchObject({
      status: 'warn',
      detail: 'nothing does not exist',
      fix: expect.stringMatching(/dotrank index/),
    });
    expect(unsearchable[1]).toMatchObject({
      status: 'warn',
      detail: expect.stringMatching(/no text field dotrank searches \(title, text\); text fields: message/),
    });
    expect(down).toEqual([expect.objectContaining({ status: 'fail', check: 'elasticsearch' })]);
    // the same index is fine once its fields are configured (ELASTICSEARCH_SEARCH_FIELDS / TEXT_FIELDS)
    const configured = await checkElasticsearch(
      loadConfig({
        ELASTICSEARCH_URL: elasticsearchUrl,
        ELASTICSEARCH_INDEX: 'logs',
        ELASTICSEARCH_SEARCH_FIELDS: 'message',
        ELASTICSEARCH_TEXT_FIELDS: 'message',
      }),
    );
    expect(configured[1]).toMatchObject({ status: 'ok', detail: 'logs: text fields message' });
    expect(await checkElasticsearch(loadConfig({}))).toEqual([
      expect.objectContaining({ status: 'ok', detail: expect.stringMatching(/not configured/) }),
    ]);
  });

  it('textFieldsOf walks object fields', () => {
    expect(
      textFieldsOf({ a: { type: 'text' }, b: { type: 'keyword' }, c: { properties: { d: { type: 'text' } } } }),
    ).toEqual(['a', 'c.d']);
  });

  it('model: the fixture model loads; a configured folder that is not a model fails', async () => {
    const good = await checkModel({ DOTRANK_MODEL: fixtureModel, DOTRANK_DATA_DIR: '.dotrank' });
    expect(good).toMatchObject({
      status: 'ok',
      detail: expect.stringMatching(/dim \d+, model\.onnx\) in .*tiny-tasb$/),
    });
    const bad = await checkModel({
      DOTRANK_MODEL: fileURLToPath(new URL('.', import.meta.url)),
      DOTRANK_DATA_DIR: '.dotrank',
    });
    expect(bad).toMatchObject({ status: 'fail', fix: expect.stringMatching(/DOTRANK_MODEL/) });
  });

  it('onnx runtime: the real runtime offers cpu; asking for a provider it lacks fails', () => {
    expect(checkExecutionProviders({ DOTRANK_EXECUTION_PROVIDERS: ['cpu'] }).status).toBe('ok');
    const cuda = checkExecutionProviders({ DOTRANK_EXECUTION_PROVIDERS: ['cuda', 'cpu'] }, ['cpu', 'webgpu']);
    expect(cuda).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/missing: cuda$/),
      fix: expect.stringMatching(/GPU workers/),
    });
  });

  it('prints ok|warn|fail, the check and the detail in columns, each fix under its check', () => {
    const text = formatChecks([
      { status: 'ok', check: 'node', detail: 'v22.1.0' },
      { status: 'fail', check: 'redis', detail: 'cannot reach', fix: 'start Redis' },
    ]);
    expect(text).toBe('ok    node   v22.1.0\nfail  redis  cannot reach\n             fix: start Redis');
  });
});

describe('dotrank doctor (child process)', () => {
  it(
    'exits 1 when the configured Redis is down, 0 when everything configured answers; --json',
    async () => {
      const [down, up] = await Promise.all([
        dotrank(['doctor'], { env: { REDIS_URL: CLOSED, DOTRANK_MODEL: fixtureModel, ELASTICSEARCH_URL: undefined } }),
        dotrank(['doctor', '--json'], {
          env: {
            REDIS_URL: redisUrlForTests(),
            DOTRANK_MODEL: fixtureModel,
            ELASTICSEARCH_URL: elasticsearchUrl,
            ELASTICSEARCH_INDEX: 'passages',
          },
        }),
      ]);
      expect(down.code).toBe(1);
      expect(down.stdout).toMatch(/^fail {2}redis +cannot reach redis:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/m);
      expect(down.stdout).toMatch(/^ok {4}node +v\d+/m);
      expect(up.code).toBe(0);
      const report = JSON.parse(up.stdout) as { ok: boolean; checks: Array<{ status: string; check: string }> };
      expect(report.ok).toBe(true);
      expect(report.checks.map((c) => c.check)).toEqual(
        expect.arrayContaining([
          'node',
          'redis',
          'redis eviction',
          'elasticsearch',
          'elasticsearch index',
          'model',
          'onnx runtime',
          'tests: lucene',
        ]),
      );
      expect(
        report.checks
          .filter((c) => c.check !== 'tests: chromium' && c.check !== 'tests: javac' && c.check !== 'tests: lucene')
          .every((c) => c.status === 'ok'),
      ).toBe(true);
    },
    SPAWN_TIMEOUT,
  );
});

describe('doctor: the Elasticsearch key privileges (_has_privileges)', () => {
  it('passes a read-only key, warns about a broader or unreadable one, and says nothing when the cluster cannot tell', async () => {
    let answer: { status: number; body: unknown } = { status: 200, body: {} };
    const asked: unknown[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.url?.startsWith('/_security/user/_has_privileges'))
          asked.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        res.writeHead(answer.status, { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' });
        res.end(JSON.stringify(answer.body));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const client = createClientFromConfig(loadConfig({ ELASTICSEARCH_URL: url, ELASTICSEARCH_TIMEOUT_MS: '2000' }));
    const privileges = (cluster: Record<string, boolean>, library: boolean, any: Record<string, boolean>) => ({
      status: 200,
      body: {
        username: 'k',
        has_all_requested: false,
        cluster,
        index: { library: { read: library }, '*': any },
        application: {},
      },
    });
    const none = { all: false, manage: false, write: false, delete: false };
    try {
      answer = privileges({ all: false, manage: false, manage_security: false, manage_api_key: false }, true, none);
      expect(await checkKeyPrivileges(client, ['library'])).toEqual({
        status: 'ok',
        check: 'elasticsearch privileges',
        detail: 'read on library, nothing broader',
      });
      expect(asked[0]).toMatchObject({ index: [{ names: ['library'], privileges: ['read'] }, { names: ['*'] }] });
      answer = privileges({ all: true, manage: true, manage_security: true, manage_api_key: true }, true, {
        ...none,
        write: true,
      });
      expect(await checkKeyPrivileges(client, ['library'])).toMatchObject({
        status: 'warn',
        detail:
          'the credentials can do more than read: cluster all, cluster manage, cluster manage_security, cluster manage_api_key, write on every index',
        fix: expect.stringMatching(/read \(and view_index_metadata\) on library only/),
      });
      answer = privileges({}, false, none);
      expect(await checkKeyPrivileges(client, ['library'])).toMatchObject({
        status: 'warn',
        detail: 'the credentials cannot read library',
      });
      answer = { status: 500, body: { error: { type: 'exception', reason: 'Security must be explicitly enabled' } } };
      expect(await checkKeyPrivileges(client, ['library'])).toBeUndefined();
    } finally {
      await client.close();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
