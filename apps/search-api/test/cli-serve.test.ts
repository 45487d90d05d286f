import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTRACT_PASSAGES, repoPath, tinyModelDir } from '@dotrank/core/testing';
import { createEmbeddedSource } from '@dotrank/bm25';

const CLI = repoPath('apps/cli/bin/dotrank.js');

/** The environment without Redis/Elasticsearch, so `serve` picks the embedded, in-process mode. */
function embeddedEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['REDIS_URL', 'ELASTICSEARCH_URL', 'DOTRANK_API_KEY', 'DOTRANK_PORT', 'NODE_ENV'])
    delete env[name];
  return env;
}

describe('dotrank serve', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dotrank-serve-'));
    const source = await createEmbeddedSource({ dir: join(dir, 'index') });
    await source.index(CONTRACT_PASSAGES);
    await source.close();
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('serves in-process from an index folder, says so, and shuts down cleanly on SIGTERM', async () => {
    const child = spawn(
      process.execPath,
      [CLI, 'serve', '--index-dir', join(dir, 'index'), '--model', tinyModelDir(), '--port', '0', '--eval-dir', dir],
      {
        env: embeddedEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (c: Buffer) => {
        stderr += c.toString();
        const m = /serving on (http:\/\/\S+) /.exec(stderr);
        if (m) resolve(m[1]!);
      });
      void exited.then((code) => reject(new Error(`serve exited (${code}): ${stderr}`)));
    });
    try {
      expect(stdout).toMatch(/in-process mode: no REDIS_URL configured/);
      expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: 'ok' });
      const res = await fetch(`${url}/search?q=boundary%20layer&k=2`, { headers: { 'x-request-id': 'cli-test-1' } });
      expect(res.headers.get('x-request-id')).toBe('cli-test-1');
      const body = (await res.json()) as { results: { id: string }[]; degraded: boolean };
      expect(body.degraded).toBe(false);
      expect(body.results).toHaveLength(2);
      // the checkout's dashboard, built first when missing or stale (see dashboard.test.ts)
      expect(await (await fetch(`${url}/dashboard/`)).text()).toContain('<div id="root"></div>');
      expect(stdout).toContain('"reqId":"cli-test-1"');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/SIGTERM received, shutting down/);
  }, 240_000); // a checkout without a dashboard build builds it first (vite: half a minute or more on a busy machine)

  it('explains a missing first stage in one line, exit code 2, no stack trace', async () => {
    const child = spawn(process.execPath, [CLI, 'serve', '--model', tinyModelDir()], {
      env: embeddedEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toMatch(/^dotrank: --index-dir: give --index-dir <dir>/);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('names an index folder without a saved index', async () => {
    const child = spawn(
      process.execPath,
      [CLI, 'serve', '--index-dir', join(dir, 'nothing-here'), '--model', tinyModelDir()],
      { env: embeddedEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    expect(await new Promise((resolve) => child.once('exit', resolve))).toBe(2);
    expect(stderr).toMatch(/--index-dir: no saved BM25 index in .*nothing-here/);
  });
});
