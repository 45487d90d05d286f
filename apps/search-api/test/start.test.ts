import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '@dotrank/core';
import { redisOptionsFromUrl } from '@dotrank/vector-cache';
import { startServer } from '../src/index.js';

describe('redisOptionsFromUrl', () => {
  it('reads host, port, credentials, db and TLS', () => {
    expect(redisOptionsFromUrl('redis://127.0.0.1:6380')).toEqual({ host: '127.0.0.1', port: 6380 });
    expect(redisOptionsFromUrl('rediss://u%40x:p%2Fw@cache.example/3')).toEqual({
      host: 'cache.example',
      port: 6379,
      username: 'u@x',
      password: 'p/w',
      db: 3,
      tls: {},
    });
  });
  it('names REDIS_URL when it is wrong', () => {
    expect(() => redisOptionsFromUrl('localhost:6379')).toThrow(/REDIS_URL/);
    expect(() => redisOptionsFromUrl('http://x')).toThrow(ConfigError);
    expect(() => redisOptionsFromUrl('redis://x/abc')).toThrow(/database must be a number/);
  });
});

describe('startServer configuration errors', () => {
  it('asks for a first stage', async () => {
    await expect(startServer(loadConfig({}), { logger: false })).rejects.toThrow(/--index-dir: give --index-dir <dir>/);
  });
  it('refuses both --index-dir and --index', async () => {
    await expect(startServer(loadConfig({}), { indexDir: '/tmp', index: 'x', logger: false })).rejects.toThrow(
      /either --index-dir .* or --index/,
    );
  });
});
