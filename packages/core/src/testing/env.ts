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
