import { describe, expect, it } from 'vitest';
import { loadConfig, defaultIntraOpThreads, workerConcurrency } from '../src/config.js';
import { matchesFilter } from '../src/filter.js';
import { ConfigError, ValidationError } from '../src/errors.js';

describe('loadConfig', () => {
  it('applies defaults for an empty environment', () => {
    const config = loadConfig({});
    expect(config.DOTRANK_QUEUE_PREFIX).toBe('dotrank');
    expect(config.DOTRANK_RERANK_DEADLINE_MS).toBe(500);
    expect(config.REDIS_URL).toBeUndefined();
  });

  it('treats blank strings as unset', () => {
    expect(loadConfig({ ELASTICSEARCH_URL: '  ' }).ELASTICSEARCH_URL).toBeUndefined();
  });

  it('names the variable and the value in errors', () => {
    expect(() => loadConfig({ DOTRANK_RERANK_DEADLINE_MS: 'soon' })).toThrow(ConfigError);
    expect(() => loadConfig({ DOTRANK_RERANK_DEADLINE_MS: 'soon' })).toThrow(/DOTRANK_RERANK_DEADLINE_MS.*"soon"/);
    expect(() => loadConfig({ DOTRANK_CACHE_DTYPE: 'int4' })).toThrow(/DOTRANK_CACHE_DTYPE/);
  });

  it('reads how long documents are scored: first by default, window sizes optional', () => {
    const defaults = loadConfig({});
    expect(defaults.DOTRANK_DOC_SCORE).toBe('first');
    expect(defaults.DOTRANK_PASSAGE_WINDOW_TOKENS).toBeUndefined();
    expect(defaults.DOTRANK_PASSAGE_WINDOW_STRIDE).toBeUndefined();
    const set = loadConfig({ DOTRANK_DOC_SCORE: ' KMax:3 ', DOTRANK_PASSAGE_WINDOW_TOKENS: '128' });
    expect([set.DOTRANK_DOC_SCORE, set.DOTRANK_PASSAGE_WINDOW_TOKENS]).toEqual(['kmax:3', 128]);
    for (const bad of ['best', 'kmax:0', 'kmax:1025', 'kmax'])
      expect(() => loadConfig({ DOTRANK_DOC_SCORE: bad })).toThrow(/DOTRANK_DOC_SCORE.*must be first, firstp, maxp/);
    expect(() => loadConfig({ DOTRANK_PASSAGE_WINDOW_STRIDE: '0' })).toThrow(/DOTRANK_PASSAGE_WINDOW_STRIDE/);
  });
});

describe('errors', () => {
  it('carries field and problem', () => {
    const error = new ValidationError('k', 'must be between 1 and 1000');
    expect(error.message).toBe('k: must be between 1 and 1000');
    expect(error.toJSON()).toEqual({ error: 'invalid_input', field: 'k', message: 'k: must be between 1 and 1000' });
  });
});

describe('matchesFilter', () => {
  it('matches equality and any-of', () => {
    expect(matchesFilter({ lang: 'en', year: 2020 }, { lang: 'en' })).toBe(true);
    expect(matchesFilter({ lang: 'en' }, { lang: ['de', 'en'] })).toBe(true);
    expect(matchesFilter({ lang: 'en' }, { lang: 'de' })).toBe(false);
    expect(matchesFilter(undefined, { lang: 'en' })).toBe(false);
    expect(matchesFilter(undefined, undefined)).toBe(true);
  });
});

describe('defaultIntraOpThreads', () => {
  it('splits cores among workers and never returns zero', () => {
    expect(defaultIntraOpThreads(8, 2)).toBe(4);
    expect(defaultIntraOpThreads(2, 4)).toBe(1);
  });
});

describe('workerConcurrency', () => {
  it("takes DOTRANK_WORKER_CONCURRENCY as set, and for 0 (the default) one job per core of the worker's share", () => {
    expect(loadConfig({}).DOTRANK_WORKER_CONCURRENCY).toBe(0);
    expect(workerConcurrency(0, 2)).toBe(2);
    expect(workerConcurrency(0, 8, 2)).toBe(4);
    expect(workerConcurrency(0, 2, 4)).toBe(1);
    expect(workerConcurrency(3, 2)).toBe(3);
    expect(() => loadConfig({ DOTRANK_WORKER_CONCURRENCY: '-1' })).toThrow(/DOTRANK_WORKER_CONCURRENCY/);
  });
});

describe('dense first-stage settings', () => {
  it('default to exact search with the auto HNSW backend, and name a bad value', () => {
    const config = loadConfig({});
    expect(config.DOTRANK_DENSE_MODE).toBe('exact');
    expect(config.DOTRANK_ANN_BACKEND).toBe('auto');
    expect(config.DOTRANK_HNSW_M).toBeUndefined();
    expect(
      loadConfig({ DOTRANK_DENSE_MODE: 'ann', DOTRANK_ANN_BACKEND: 'hnswlib', DOTRANK_HNSW_EF_SEARCH: '256' }),
    ).toMatchObject({ DOTRANK_DENSE_MODE: 'ann', DOTRANK_ANN_BACKEND: 'hnswlib', DOTRANK_HNSW_EF_SEARCH: 256 });
    expect(() => loadConfig({ DOTRANK_ANN_BACKEND: 'faiss' })).toThrow(/DOTRANK_ANN_BACKEND/);
    expect(() => loadConfig({ DOTRANK_HNSW_M: '1' })).toThrow(/DOTRANK_HNSW_M/);
  });
});

describe('DOTRANK_EXECUTION_PROVIDERS', () => {
  it('parses a preference list and refuses unknown providers', () => {
    expect(loadConfig({}).DOTRANK_EXECUTION_PROVIDERS).toEqual(['cpu']);
    expect(loadConfig({ DOTRANK_EXECUTION_PROVIDERS: 'cuda, cpu' }).DOTRANK_EXECUTION_PROVIDERS).toEqual([
      'cuda',
      'cpu',
    ]);
    expect(() => loadConfig({ DOTRANK_EXECUTION_PROVIDERS: 'tpu' })).toThrow(/DOTRANK_EXECUTION_PROVIDERS/);
  });
});

describe('DOTRANK_ORT_SPIN', () => {
  it('is off unless set to 1 or true, and names a bad value', () => {
    expect(loadConfig({}).DOTRANK_ORT_SPIN).toBe(false);
    expect(loadConfig({ DOTRANK_ORT_SPIN: '1' }).DOTRANK_ORT_SPIN).toBe(true);
    expect(loadConfig({ DOTRANK_ORT_SPIN: 'true' }).DOTRANK_ORT_SPIN).toBe(true);
    expect(loadConfig({ DOTRANK_ORT_SPIN: '0' }).DOTRANK_ORT_SPIN).toBe(false);
    expect(() => loadConfig({ DOTRANK_ORT_SPIN: 'sometimes' })).toThrow(/DOTRANK_ORT_SPIN/);
  });
});

describe('REDIS_CLUSTER_NODES', () => {
  it('becomes REDIS_URL’s cluster parameter (REDIS_URL keeps its credentials), and names a bad list', () => {
    const seeds = (env: Record<string, string>) => new URL(loadConfig(env).REDIS_URL!).searchParams.get('cluster');
    expect(loadConfig({ REDIS_CLUSTER_NODES: '10.0.0.1:7000, 10.0.0.2:7000' }).REDIS_URL).toMatch(
      /^redis:\/\/10\.0\.0\.1:7000\/?\?cluster=/,
    );
    expect(seeds({ REDIS_CLUSTER_NODES: '10.0.0.1:7000, 10.0.0.2:7000' })).toBe('10.0.0.1:7000,10.0.0.2:7000');
    const withAuth = new URL(loadConfig({ REDIS_URL: 'rediss://u:p@x:1', REDIS_CLUSTER_NODES: 'y:2' }).REDIS_URL!);
    expect([withAuth.protocol, withAuth.username, withAuth.password, withAuth.host]).toEqual([
      'rediss:',
      'u',
      'p',
      'x:1',
    ]);
    expect(withAuth.searchParams.get('cluster')).toBe('y:2');
    expect(loadConfig({ REDIS_URL: 'redis://a:1' }).REDIS_URL).toBe('redis://a:1');
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: 'a' })).toThrow(/REDIS_CLUSTER_NODES: must be host:port/);
  });
});

describe('the Elasticsearch proxy settings', () => {
  it('default to on, ELASTICSEARCH_INDEX alone, inference id dotrank and a 300 s window', () => {
    const config = loadConfig({});
    expect(config.DOTRANK_PROXY).toBe(true);
    expect(config.DOTRANK_PROXY_INDICES).toBeUndefined();
    expect(config.DOTRANK_INFERENCE_ID).toBe('dotrank');
    expect(config.DOTRANK_WINDOW_TTL_SECONDS).toBe(300);
  });

  it('read a comma list of indices, 0 to turn the proxy off, and name a bad value', () => {
    const config = loadConfig({ DOTRANK_PROXY: '0', DOTRANK_PROXY_INDICES: ' library, logs-* ,' });
    expect(config.DOTRANK_PROXY).toBe(false);
    expect(config.DOTRANK_PROXY_INDICES).toEqual(['library', 'logs-*']);
    expect(() => loadConfig({ DOTRANK_PROXY_INDICES: 'a/b' })).toThrow(/DOTRANK_PROXY_INDICES/);
    expect(() => loadConfig({ DOTRANK_PROXY: 'off' })).toThrow(/DOTRANK_PROXY: must be 0, 1, false or true/);
    expect(() => loadConfig({ DOTRANK_WINDOW_TTL_SECONDS: '0' })).toThrow(/DOTRANK_WINDOW_TTL_SECONDS/);
  });
});
