import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findRepoRoot } from '../config.js';

/** Redis for tests: REDIS_URL, else the local default every developer and CI machine runs. */
export function redisUrlForTests(): string {
  return process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
}

/** A key/queue prefix no other test run uses, so tests clean up only their own keys. */
export function uniquePrefix(label: string): string {
  return `dotrank-test-${label}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/**
 * A path inside this checkout (e.g. `datasets/cranfield`, `models/tas-b`), found from this file's location, not the
 * cwd. Data the repository ships is always there, so a missing path is an error, never a reason to skip.
 */
export function repoPath(relative: string): string {
  const root = findRepoRoot(fileURLToPath(new URL('.', import.meta.url)));
  if (!root) throw new Error('repository root (nx.json) not found above @dotrank/core');
  const path = join(root, relative);
  if (!existsSync(path)) throw new Error(`${path} is missing from the checkout (it is committed: restore it with git)`);
  return path;
}

/** The tiny random-weight TAS-B-shaped fixture model committed under tools/fixtures (see its README). */
export function tinyModelDir(): string {
  return repoPath('tools/fixtures/tiny-tasb');
}

/** The two Redis commands prefix cleanup needs; an ioredis client fits. */
export interface ScanDelClient {
  scan(cursor: string, match: 'MATCH', pattern: string, count: 'COUNT', n: number): Promise<[string, string[]]>;
  del(...keys: string[]): Promise<number>;
}

/** Every key matching the glob `pattern` (SCAN, never KEYS), sorted. */
export async function keysMatching(redis: Pick<ScanDelClient, 'scan'>, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    keys.push(...found);
    cursor = next;
  } while (cursor !== '0');
  return keys.sort();
}

/** Deletes every key under `prefix` (SCAN + DEL), never anything else: how tests clean up after themselves. */
export async function deleteKeysWithPrefix(redis: ScanDelClient, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

/** Reproducible test data and benchmarks: core's mulberry32 (floats in [0, 1)). */
export { mulberry32 as seededRandom } from '../random.js';
