import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findRepoRoot, resolveSharedDir } from '../config.js';

/** Redis for tests: REDIS_URL, else the local default every developer and CI machine runs. */
export function redisUrlForTests(): string {
  return process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
}

/** A key/queue prefix no other test run uses, so tests clean up only their own keys. */
export function uniquePrefix(label: string): string {
  return `dotrank-test-${label}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** A path inside the shared data dir, or a reason to print when a test must skip for lack of it. */
export function sharedDirOrSkipReason(subpath: string): { dir: string } | { reason: string } {
  const shared = resolveSharedDir();
  if (!shared) return { reason: `shared data not found (set DOTRANK_SHARED_DIR or place shared/ beside the repository); needed: ${subpath}` };
  const dir = join(shared, subpath);
  if (!existsSync(dir)) return { reason: `${dir} is absent` };
  return { dir };
}

/** The tiny random-weight TAS-B-shaped fixture model committed under tools/fixtures (see its README). */
export function tinyModelDir(): string {
  const root = findRepoRoot(fileURLToPath(new URL('.', import.meta.url)));
  if (!root) throw new Error('repository root (nx.json) not found above @dotrank/core');
  return join(root, 'tools', 'fixtures', 'tiny-tasb');
}

/** The two Redis commands prefix cleanup needs; an ioredis client fits. */
export interface ScanDelClient {
  scan(cursor: string, match: 'MATCH', pattern: string, count: 'COUNT', n: number): Promise<[string, string[]]>;
  del(...keys: string[]): Promise<number>;
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

/** mulberry32: a small seeded PRNG (floats in [0, 1)) for reproducible test data and benchmarks. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
