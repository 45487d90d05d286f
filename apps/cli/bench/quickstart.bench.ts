// Time to readiness of `dotrank start` (what `npm start` runs): a first run on an empty data folder, then a
// second run that reuses the index, the cached vectors and the evaluation. Goal: the second at least 5x faster.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { findRepoRoot } from '@dotrank/core';
import { redisUrlForTests, uniquePrefix, deleteKeysWithPrefix } from '@dotrank/core/testing';

const repo = findRepoRoot(import.meta.dirname)!;
const cli = join(repo, 'apps', 'cli', 'bin', 'dotrank.js');

async function timeToReady(env: NodeJS.ProcessEnv): Promise<{ wallMs: number; reportedMs: number }> {
  const started = performance.now();
  let output = '';
  const code = await new Promise<number | null>((done) => {
    const child = spawn(
      process.execPath,
      [cli, 'start', '--exit-when-ready', '--no-pull', '--no-progress', '--port', '0'],
      { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('exit', done);
  });
  if (code !== 0) throw new Error(`dotrank start failed (${code}):\n${output}`);
  const reported = /ready in ([\d.]+) s/.exec(output);
  return { wallMs: performance.now() - started, reportedMs: Number(reported?.[1]) * 1000 };
}

const data = await mkdtemp(join(tmpdir(), 'dotrank-bench-start-'));
const prefix = uniquePrefix('bench-start');
const env = {
  ...process.env,
  DOTRANK_DATA_DIR: data,
  DOTRANK_QUEUE_PREFIX: prefix,
  DOTRANK_KEY_PREFIX: prefix,
  DOTRANK_MODEL: process.env['DOTRANK_MODEL'] ?? '',
};
try {
  const first = await timeToReady(env);
  const second = await timeToReady(env);
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  console.log('dotrank start: time to readiness (fixture model unless DOTRANK_MODEL is set; Cranfield)');
  console.log(`  first run  (index + encode + eval): ${s(first.reportedMs)} ready, ${s(first.wallMs)} wall`);
  console.log(`  second run (everything reused)     : ${s(second.reportedMs)} ready, ${s(second.wallMs)} wall`);
  console.log(
    `  speed-up: ${(first.reportedMs / second.reportedMs).toFixed(1)}x to readiness (goal >= 5x), ${(first.wallMs / second.wallMs).toFixed(1)}x wall`,
  );
} finally {
  const redis = new Redis(redisUrlForTests());
  await deleteKeysWithPrefix(redis, prefix);
  await redis.quit();
  await rm(data, { recursive: true, force: true });
}
