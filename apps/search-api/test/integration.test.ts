import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTRACT_PASSAGES, redisUrlForTests, repoPath, tinyModelDir, uniquePrefix } from '@dotrank/core/testing';
import { loadConfig } from '@dotrank/core';
import { createEmbeddedSource } from '@dotrank/bm25';
import { loadEncoder } from '@dotrank/encoder';
import type { Encoder } from '@dotrank/encoder';
import { InProcessReranker } from '@dotrank/rerank-core';
import { MemoryVectorStore } from '@dotrank/vector-cache';
import { buildServer, startServer } from '../src/index.js';
import type { RunningServer } from '../src/index.js';
import { deleteKeys } from './helpers/redis.js';

const CLI = repoPath('apps/cli/bin/dotrank.js');
const redisUrl = redisUrlForTests();

interface Hit {
  id: string;
  rank: number;
  score: number;
  bm25Score: number;
  tasbScore?: number;
  text: string;
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

describe('in-process: embedded BM25 + tiny TAS-B model + ONNX Runtime', () => {
  let app: FastifyInstance;
  let encoder: Encoder;
  let reference: Encoder;

  beforeAll(async () => {
    const source = await createEmbeddedSource();
    await source.index(CONTRACT_PASSAGES);
    encoder = await loadEncoder(tinyModelDir());
    reference = await loadEncoder(tinyModelDir());
    const reranker = new InProcessReranker({ encoder, store: new MemoryVectorStore({ dimension: encoder.dimension }) });
    app = await buildServer({ source, reranker, mode: 'in-process' }, { logger: false, deadlineMs: 10_000 });
  });
  afterAll(async () => {
    await app?.close();
    await encoder?.close();
    await reference?.close();
  });

  it('reranks BM25 candidates by the TAS-B dot product', async () => {
    const res = await app.inject({ url: '/search?q=boundary%20layer&k=3' });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { results: Hit[]; degraded: boolean; fusion: string; timings: Record<string, number> };
    expect(body.degraded).toBe(false);
    expect(body.fusion).toBe('tasb');
    expect(body.results.map((r) => r.id).sort()).toEqual(['p1', 'p2', 'p4']);
    // the score is the dot product of query and passage vectors, as an independent encoder computes it
    const [q] = await reference.encodeQueries(['boundary layer']);
    for (const r of body.results) {
      const [p] = await reference.encodePassages([r.text]);
      expect(r.score).toBeCloseTo(dot(q!, p!), 3);
      expect(r.tasbScore).toBe(r.score);
    }
    for (let i = 1; i < body.results.length; i++)
      expect(body.results[i - 1]!.score).toBeGreaterThanOrEqual(body.results[i]!.score);
    expect(body.timings['encodeQueryMs']).toBeGreaterThanOrEqual(0);
    const bm25 = (await app.inject({ url: '/search?q=boundary%20layer&k=3&fusion=bm25' })).json() as { results: Hit[] };
    const byId = new Map(bm25.results.map((r) => [r.id, r.score]));
    for (const r of body.results) expect(r.bm25Score).toBe(byId.get(r.id));
  });

  it('caches passage vectors: a second identical query hits the cache', async () => {
    const body = (await app.inject({ url: '/search?q=boundary%20layer&k=3' })).json() as {
      cache: { hits: number; misses: number };
    };
    expect(body.cache).toEqual({ hits: 3, misses: 0 });
  });
});

/** A real `dotrank worker` process on this test's queue and key prefix. */
function spawnWorker(prefix: string): Promise<ChildProcess> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    REDIS_URL: redisUrl,
    DOTRANK_QUEUE_PREFIX: prefix,
    DOTRANK_KEY_PREFIX: prefix,
  };
  delete env['NODE_ENV'];
  const child = spawn(process.execPath, [CLI, 'worker', '--model', tinyModelDir(), '--threads', '1'], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
      if (err.includes('worker ready')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`dotrank worker exited (${code}) before ready: ${err}`)));
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('queue mode: startServer + real Redis + a `dotrank worker` process', () => {
  const prefix = uniquePrefix('api');
  let dir: string;
  let running: RunningServer;
  let worker: ChildProcess | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dotrank-api-index-'));
    const source = await createEmbeddedSource({ dir });
    await source.index(CONTRACT_PASSAGES);
    await source.close();
    const config = loadConfig({
      REDIS_URL: redisUrl,
      DOTRANK_QUEUE_PREFIX: prefix,
      DOTRANK_RERANK_DEADLINE_MS: '5000',
      DOTRANK_DATA_DIR: dir,
    });
    running = await startServer(config, { indexDir: dir, port: 0, logger: false });
    worker = await spawnWorker(prefix);
  });
  afterAll(async () => {
    if (worker && worker.exitCode === null) worker.kill('SIGKILL');
    await running?.close();
    await deleteKeys(redisUrl, prefix);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('is ready with Redis, a worker and the index', async () => {
    const res = await fetch(`${running.url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      status: 'ready',
      mode: 'queue',
      checks: { source: 'ok', redis: 'ok', model: 'ok' },
    });
  });

  it('reranks through the queue', async () => {
    const res = await fetch(`${running.url}/search`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ q: 'boundary layer', k: 2 }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { results: Hit[]; degraded: boolean; timings: Record<string, number> };
    expect(body.degraded).toBe(false);
    expect(body.results).toHaveLength(2);
    for (const r of body.results) expect(r.tasbScore).toBe(r.score);
    expect(body.timings['queueWaitMs']).toBeGreaterThanOrEqual(0);
    const metrics = await (await fetch(`${running.url}/metrics`)).text();
    expect(metrics).toMatch(/dotrank_queue_active_workers 1/);
    expect(metrics).toMatch(/dotrank_queue_depth 0/);
  });

  it('serves the BM25 order, degraded with reason timeout, within the deadline once the worker is killed', async () => {
    const bm25 = (await (await fetch(`${running.url}/search?q=boundary%20layer&fusion=bm25`)).json()) as {
      results: Hit[];
    };
    const exited = new Promise((r) => worker!.once('exit', r));
    worker!.kill('SIGKILL');
    await exited;
    const res = await fetch(`${running.url}/search?q=boundary%20layer&deadlineMs=300`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      results: Hit[];
      degraded: boolean;
      reason: string;
      timings: Record<string, number>;
    };
    expect(body).toMatchObject({ degraded: true, reason: 'timeout' });
    expect(body.results.map((r) => r.id)).toEqual(bm25.results.map((r) => r.id));
    expect(body.results.map((r) => r.score)).toEqual(bm25.results.map((r) => r.score));
    const metrics = await (await fetch(`${running.url}/metrics`)).text();
    expect(metrics).toMatch(/dotrank_degraded_responses_total\{reason="timeout"\} 1/);
  });
});

describe('queue mode with Redis unreachable', () => {
  let running: RunningServer;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dotrank-api-index-'));
    const source = await createEmbeddedSource({ dir });
    await source.index(CONTRACT_PASSAGES);
    await source.close();
    const port = await freePort();
    running = await startServer(
      loadConfig({ REDIS_URL: `redis://127.0.0.1:${port}`, DOTRANK_QUEUE_PREFIX: uniquePrefix('down') }),
      {
        indexDir: dir,
        port: 0,
        logger: false,
      },
    );
  });
  afterAll(async () => {
    await running?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers degraded queue_unavailable, and /readyz names redis', async () => {
    const body = (await (await fetch(`${running.url}/search?q=boundary%20layer`)).json()) as {
      degraded: boolean;
      reason: string;
      results: Hit[];
    };
    expect(body).toMatchObject({ degraded: true, reason: 'queue_unavailable' });
    expect(body.results.length).toBe(3);
    const ready = await fetch(`${running.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { failing: string[] }).failing).toEqual(['model', 'redis']);
  });
});
