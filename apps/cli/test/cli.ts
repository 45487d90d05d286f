import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoPath } from '@dotrank/core/testing';

/** Each spawn starts the whole CLI through tsx, which is slow on a busy machine: the timeout of a test that spawns. */
export const SPAWN_TIMEOUT = 240_000;

const bin = fileURLToPath(new URL('../bin/dotrank.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `dotrank` as a user would (a child process through bin/dotrank.js), with `env` over this process's environment. */
export function dotrank(
  args: string[],
  options: { env?: Record<string, string | undefined>; cwd?: string } = {},
): Promise<CliResult> {
  const env: Record<string, string | undefined> = { ...process.env, ...options.env };
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete env[key];
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { timeout: SPAWN_TIMEOUT - 10_000, env, ...(options.cwd ? { cwd: options.cwd } : {}) },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/**
 * Writes into `target` a slice of a bundled BEIR collection (`datasets/<name>`): its first `queries` queries, their
 * judgments and the whole corpus, so that a test's model work stays short.
 */
export async function collectionSlice(name: string, target: string, queries: number): Promise<void> {
  const source = repoPath(`datasets/${name}`);
  await mkdir(join(target, 'qrels'), { recursive: true });
  const kept = (await readFile(join(source, 'queries.jsonl'), 'utf8')).split('\n').filter(Boolean).slice(0, queries);
  const ids = new Set(kept.map((q) => (JSON.parse(q) as { _id: string })._id));
  const qrels = (await readFile(join(source, 'qrels', 'test.tsv'), 'utf8'))
    .split('\n')
    .filter((line, i) => i === 0 || ids.has(line.split('\t')[0]!));
  await writeFile(join(target, 'queries.jsonl'), `${kept.join('\n')}\n`);
  await writeFile(join(target, 'qrels', 'test.tsv'), `${qrels.join('\n')}\n`);
  await writeFile(join(target, 'corpus.jsonl'), await readFile(join(source, 'corpus.jsonl')));
}
