// `dotrank eval --cache redis`: query vectors go to Redis beside the passage vectors (the shared tier the API and the
// workers use), so a second eval of the same queries encodes none of them again.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteKeysWithPrefix, keysMatching, tinyModelDir } from '@dotrank/core/testing';
import { createRedisConnection } from '@dotrank/vector-cache';
import { collectionSlice, dotrank, SPAWN_TIMEOUT } from './cli.js';

const url = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const prefix = `dotrank-test-eval-qvec-${randomBytes(4).toString('hex')}`;
const redis = createRedisConnection(url);
let dir: string;
let collection: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dotrank-eval-qvec-'));
  collection = join(dir, 'mini');
  await collectionSlice('cranfield', collection, 5);
});
afterAll(async () => {
  await deleteKeysWithPrefix(redis, prefix);
  await redis.quit();
  await rm(dir, { recursive: true, force: true });
});

const queryVectorKeys = () => keysMatching(redis, `${prefix}:qvec:*`);

describe('dotrank eval --cache redis', () => {
  it(
    'writes each query vector to Redis with its TTL; a second eval finds the same keys and gives the same figures',
    async () => {
      const env = {
        REDIS_URL: url,
        DOTRANK_KEY_PREFIX: prefix,
        DOTRANK_QUERY_CACHE_TTL_SECONDS: '600',
        ELASTICSEARCH_URL: undefined,
      };
      const run = (out: string) =>
        dotrank(
          ['eval', '--collection', collection, '--model', tinyModelDir(), '--systems', 'bm25,tasb'].concat([
            '--depth',
            '5',
            '--index-dir',
            join(dir, 'index'),
            '--out',
            join(dir, out),
            '--cache',
            'redis',
            '--json',
            '--no-progress',
          ]),
          { env },
        );
      const first = await run('first');
      expect(first, first.stderr).toMatchObject({ code: 0 });
      const keys = await queryVectorKeys();
      expect(keys).toHaveLength(5);
      for (const key of keys) {
        const ttl = await redis.ttl(key);
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(600);
      }
      // the shared tier answers for the second process: same keys, same figures
      const second = await run('second');
      expect(second, second.stderr).toMatchObject({ code: 0 });
      expect(await queryVectorKeys()).toEqual(keys);
      const figures = (stdout: string) => (JSON.parse(stdout) as { systems: unknown }).systems;
      expect(figures(second.stdout)).toEqual(figures(first.stdout));
    },
    SPAWN_TIMEOUT,
  );
});
