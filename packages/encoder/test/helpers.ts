import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { findRepoRoot } from '@dotrank/core';
import { tinyModelDir } from '@dotrank/core/testing';

export const repoRoot = findRepoRoot(new URL('.', import.meta.url).pathname)!;
export const fixturesDir = join(repoRoot, 'tools', 'fixtures');
export const tinyDir = tinyModelDir();
export const pooledDir = join(fixturesDir, 'tiny-pooled');

export interface TokenizerReference {
  tokenizerSha256: string;
  truncations: number[];
  items: { source: string; text: string; ids: number[]; truncated?: Record<string, number[]> }[];
}

export interface VectorReference {
  queryMaxLength: number;
  passageMaxLength: number;
  items: {
    source: string;
    kind: 'query' | 'passage';
    text: string;
    ids: number[];
    cls: number[];
    mean: number[];
    pooled: number[];
  }[];
}

export function tokenizerReference(): TokenizerReference {
  return JSON.parse(readFileSync(join(fixturesDir, 'reference', 'tokenizer-ids.json'), 'utf8')) as TokenizerReference;
}

export function vectorReference(): VectorReference {
  return JSON.parse(readFileSync(join(fixturesDir, 'reference', 'vectors.json'), 'utf8')) as VectorReference;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** A temporary copy of a model directory with files added (string = JSON/text content) or removed (null). */
export async function modelDirVariant(
  from: string,
  changes: Record<string, string | null>,
  layout?: Record<string, string>,
): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dotrank-encoder-test-'));
  if (layout) {
    for (const [target, source] of Object.entries(layout))
      await cp(join(from, source), join(dir, target), { recursive: true });
  } else {
    await cp(from, dir, { recursive: true });
  }
  for (const [name, content] of Object.entries(changes)) {
    if (content === null) await rm(join(dir, name), { force: true });
    else {
      await mkdir(dirname(join(dir, name)), { recursive: true });
      await writeFile(join(dir, name), content);
    }
  }
  return dir;
}

export async function removeDir(dir: string | undefined): Promise<void> {
  if (dir) await rm(dir, { recursive: true, force: true });
}
