// Faults of Redis in queue mode (#18): a Redis that stops answering must not hang /metrics, /api/stats or shutdown;
// no worker must not make every search wait out its deadline. Each test runs its own redis-server or prefix.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CONTRACT_PASSAGES,
  redisUrlForTests,
  repoPath,
  startRedisServer,
  tinyModelDir,
  uniquePrefix,
  type OwnRedis,
} from '@dotrank/core/testing';
import { loadConfig } from '@dotrank/core';
import { createEmbeddedSource } from '@dotrank/bm25';
import { startServer, type RunningServer } from '../src/index.js';
import { deleteKeys } from './helpers/redis.js';

const CLI = repoPath('apps/cli/bin/dotrank.js');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dotrank-redis-faults-'));
  const source = await createEmbeddedSource({ dir: join(dir, 'index') });
  await source.index(CONTRACT_PASSAGES);
  await source.close();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** `dotrank serve` in queue mode against `redisUrl`, resolved once it listens; `exited` settles with its exit code. */
async function spawnServe(redisUrl: string) {
  const env: NodeJS.ProcessEnv = { ...process.env, REDIS_URL: redisUrl, DOTRANK_QUEUE_PREFIX: uniquePrefix('faults') };
  for (const name of ['ELASTICSEARCH_URL', 'DOTRANK_API_KEY', 'DOTRANK_PORT', 'NODE_ENV']) delete env[name];
  const child = spawn(
    process.execPath,
    [CLI, 'serve', '--index-dir', join(dir, 'index'), '--model', tinyModelDir(), '--port', '0', '--eval-dir', dir],
    { env, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      const m = /serving on (http:\/\/\S+) /.exec(stderr);
      if (m) resolve(m[1]!);
    });
    void exited.then((code) => reject(new Error(`serve exited (${code}): ${stderr}`)));
  });
  return { child, url, exited, stderr: () => stderr };
}

describe('a Redis that stops answering (SIGSTOP), API process in queue mode', () => {
  let redis: OwnRedis;
  let serve: Awaited<ReturnType<typeof spawnServe>>;
  beforeAll(async () => {
    redis = await startRedisServer();
    serve = await spawnServe(redis.url);
  });
  afterAll(async () => {
    if (serve?.child.exitCode === null) serve.child.kill('SIGKILL');
    await redis?.stop();
  });

  it('/metrics and /api/stats still answer and say Redis is down; /readyz is 503 naming redis', async () => {
    expect(await (await fetch(`${serve.url}/metrics`)).text()).toMatch(/^dotrank_redis_up 1$/m);
    redis.pause();
    const metrics = await fetch(`${serve.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/^dotrank_redis_up 0$/m);
    const stats = await fetch(`${serve.url}/api/stats`);
    expect(stats.status).toBe(200);
    expect(await stats.json()).toMatchObject({ mode: 'queue', queueDepth: null, activeWorkers: null });
    const ready = await fetch(`${serve.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { failing: string[] }).failing).toContain('redis');
  }, 30_000);

  it('exits after SIGTERM although Redis does not answer', async () => {
    serve.child.kill('SIGTERM');
    const code = await Promise.race([
      serve.exited,
      new Promise<'still running'>((r) => setTimeout(() => r('still running'), 15_000)),
    ]);
    expect(code, serve.stderr()).not.toBe('still running');
    expect(serve.stderr()).toMatch(/SIGTERM received, shutting down/);
  }, 30_000);
});

describe('no worker alive (no heartbeat)', () => {
  const prefix = uniquePrefix('no-workers');
  let running: RunningServer;
  beforeAll(async () => {
    // a deadline far longer than the test: only the heartbeat check can make the answer come back in time
    running = await startServer(
      loadConfig({ REDIS_URL: redisUrlForTests(), DOTRANK_QUEUE_PREFIX: prefix, DOTRANK_RERANK_DEADLINE_MS: '600000' }),
      {
        indexDir: join(dir, 'index'),
        port: 0,
        logger: false,
      },
    );
  });
  afterAll(async () => {
    await running?.close();
    await deleteKeys(redisUrlForTests(), prefix);
  });

  it('answers in first-stage order at once, degraded with reason no_workers, and counts it', async () => {
    const bm25 = (await (await fetch(`${running.url}/search?q=boundary%20layer&fusion=bm25`)).json()) as {
      results: { id: string }[];
    };
    const body = (await (await fetch(`${running.url}/search?q=boundary%20layer`)).json()) as {
      degraded: boolean;
      reason: string;
      results: { id: string }[];
    };
    expect(body).toMatchObject({ degraded: true, reason: 'no_workers' });
    expect(body.results.map((r) => r.id)).toEqual(bm25.results.map((r) => r.id));
    expect(await (await fetch(`${running.url}/metrics`)).text()).toMatch(
      /^dotrank_degraded_responses_total\{reason="no_workers"\} 1$/m,
    );
    const ready = await fetch(`${running.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { failing: string[] }).failing).toEqual(['model']);
  }, 60_000);
});
