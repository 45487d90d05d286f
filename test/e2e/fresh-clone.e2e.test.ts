// A fresh clone works: `git clone` of the committed HEAD into an empty folder (no sibling data folder beside it), `npm ci`,
// then `npm start`'s own launcher (tools/quickstart/start.mjs) with no DOTRANK_MODEL and no network to the model hub:
// it must find the sample collection inside the repository, fall back to the fixture model quickly, build the
// dashboard itself, rerank a search, show the dashboard in Chromium, and on SIGTERM leave no process, no open port
// and nothing of a job in Redis behind (its vector cache stays, as it is meant to).
//
// Queue mode (Redis at REDIS_URL, its own key and queue prefixes): that is what `npm start` picks on any machine with
// a Redis (CI starts one), and it is the harder case to shut down cleanly: a worker process and Redis keys.
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { chromiumPath, launchChromium } from './browser.js';
import { findRepoRoot } from '@dotrank/core';
import { deleteKeysWithPrefix, redisUrlForTests, uniquePrefix } from '@dotrank/core/testing';

const repo = findRepoRoot(import.meta.dirname)!;
const skipReason = existsSync(join(repo, '.git'))
  ? undefined
  : `${repo} is not a git checkout, so there is nothing to clone`;
if (skipReason) console.warn(`fresh-clone end-to-end skipped: ${skipReason}`);
if (!chromiumPath)
  console.warn(
    'fresh-clone end-to-end: no /usr/bin/chromium, the dashboard check is skipped (install Debian chromium)',
  );

/** A port nothing listens on right now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  const { port } = server.address() as { port: number };
  await new Promise((closed) => server.close(closed));
  return port;
}

async function portAnswers(port: number): Promise<boolean> {
  return new Promise((answer) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      answer(true);
    });
    socket.once('error', () => answer(false));
  });
}

/**
 * Processes in process group `pgid`, or running in (or naming) `dir`: ours to account for. Zombies are not counted:
 * they have finished, and reaping an orphan is init's job (a container's PID 1 may not do it).
 */
function processesOf(pgid: number, dir: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const [state, , group] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z') continue;
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      if (Number(group) === pgid || cmd.includes(dir) || readlinkSync(`/proc/${pid}/cwd`).startsWith(dir))
        found.push(`${pid}: ${cmd}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

async function keysUnder(redis: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}

/** The environment of a newcomer's shell: none of this machine's dotrank settings, nothing pointing outside the clone. */
function newcomerEnv(prefix: string, port: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^(DOTRANK_|HF_|ELASTICSEARCH_|NODE_ENV$|VITEST|npm_)/.test(name)) env[name] = value;
  }
  return {
    ...env,
    CI: 'true',
    REDIS_URL: redisUrlForTests(),
    DOTRANK_QUEUE_PREFIX: prefix,
    DOTRANK_KEY_PREFIX: prefix,
    DOTRANK_PORT: String(port),
    // the fixture model scores on a busy CI machine: no degraded answer because of a tight deadline
    DOTRANK_RERANK_DEADLINE_MS: '20000',
    // hnswlib-node (optional) compiles against the installed Node headers instead of downloading them, as .ci/run does
    ...(existsSync('/usr/include/node/node.h') ? { npm_config_nodedir: '/usr' } : {}),
  };
}

describe.skipIf(skipReason !== undefined)('a fresh clone: npm ci, npm start, search, dashboard, clean stop', () => {
  const prefix = uniquePrefix('fresh-clone');
  const redis = new Redis(redisUrlForTests(), { lazyConnect: true });
  let work: string;
  let clone: string;
  let port: number;
  let child: ChildProcess;
  let output = '';
  const seenAt = new Map<string, number>();
  let exit: { code: number | null; signal: string | null } | undefined;
  const timings: Record<string, number> = {};

  /** Resolves with the elapsed ms when `pattern` shows up in the output; rejects if the process exits first. */
  const waitFor = (pattern: RegExp) =>
    new Promise<void>((found, failed) => {
      const timer = setInterval(() => {
        if (pattern.test(output)) {
          clearInterval(timer);
          found();
        } else if (exit) {
          clearInterval(timer);
          failed(new Error(`npm start exited (${exit.code ?? exit.signal}) before ${pattern}:\n${output}`));
        }
      }, 200);
    });

  beforeAll(async () => {
    await redis.connect();
    work = await mkdtemp(join(tmpdir(), 'dotrank-fresh-clone-'));
    clone = join(work, 'dotrank');
    let started = performance.now();
    execFileSync('git', ['clone', '--quiet', repo, clone]);
    port = await freePort();
    const env = newcomerEnv(prefix, port);
    started = performance.now();
    execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--prefer-offline'], {
      cwd: clone,
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    timings['npm ci'] = performance.now() - started;

    started = performance.now();
    // its own process group, as a terminal gives it; the SIGTERM below goes to the launcher only, as a supervisor's
    child = spawn(process.execPath, ['tools/quickstart/start.mjs', '--no-progress'], {
      cwd: clone,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const record = (chunk: Buffer) => {
      output += chunk.toString();
      for (const line of ['model: pulling', 'the hub is not reachable'])
        if (!seenAt.has(line) && output.includes(line)) seenAt.set(line, performance.now());
    };
    child.stdout!.on('data', record);
    child.stderr!.on('data', record);
    child.on('exit', (code, signal) => (exit = { code, signal }));
    await waitFor(/dotrank is ready in/);
    timings['npm start until ready'] = performance.now() - started;
  }, 1_500_000);

  afterAll(async () => {
    console.log(
      `fresh clone timings: ${Object.entries(timings)
        .map(([what, ms]) => `${what} ${(ms / 1000).toFixed(1)} s`)
        .join(', ')}`,
    );
    if (child?.pid && !exit) process.kill(-child.pid, 'SIGKILL');
    for (const line of child?.pid ? processesOf(child.pid, clone) : [])
      process.kill(Number(line.split(':')[0]), 'SIGKILL');
    await deleteKeysWithPrefix(redis, prefix);
    redis.disconnect();
    if (work) await rm(work, { recursive: true, force: true });
  }, 60_000);

  it('cloned into a folder with nothing beside it, and found the sample collection inside the repository', async () => {
    expect(await readdir(work)).toEqual(['dotrank']);
    expect(output).toMatch(/evaluation: BM25 vs TAS-B on cranfield/);
    expect(output).toMatch(/mode: queue/);
    // the BM25 row of the printed table: the bundled collection's reference figures (MRR, nDCG@10)
    expect(output).toMatch(/^bm25\s+0\.4967\s+0\.3341/m);
  });

  it('gave up on the model hub quickly (no network) and said loudly that it uses the fixture model', () => {
    const pulling = seenAt.get('model: pulling');
    const gaveUp = seenAt.get('the hub is not reachable');
    expect(pulling).toBeDefined();
    expect(gaveUp).toBeDefined();
    // the bound is the 15 s "no answer" limit of the hub attempt: a hang would blow far past it
    expect(gaveUp! - pulling!).toBeLessThan(20_000);
    expect(output).toMatch(/USING THE SMALL RANDOM-WEIGHT FIXTURE MODEL/);
  });

  it('answers /search with reranked results from the worker', async () => {
    const response = await fetch(
      `http://127.0.0.1:${port}/search?q=${encodeURIComponent('boundary layer transition')}&fusion=tasb&k=5`,
    );
    expect(response.status).toBe(200);
    const body = (await response.json()) as {
      degraded: boolean;
      fusion: string;
      results: { rank: number; tasbScore?: number }[];
    };
    expect(body.degraded).toBe(false);
    expect(body.fusion).toBe('tasb');
    expect(body.results.map((r) => r.rank)).toEqual([1, 2, 3, 4, 5]);
    expect(body.results.every((r) => typeof r.tasbScore === 'number')).toBe(true);
  });

  it('redirects /dashboard to /dashboard/', async () => {
    const response = await fetch(`http://127.0.0.1:${port}/dashboard`, { redirect: 'manual' });
    expect(response.headers.get('location')).toBe('/dashboard/');
  });

  it.skipIf(!chromiumPath)(
    'shows the dashboard it built, with the evaluation',
    async () => {
      const browser = await launchChromium();
      try {
        const page = await browser.newPage();
        const response = await page.goto(`http://127.0.0.1:${port}/dashboard/`);
        expect(response?.status()).toBe(200);
        const cell = page.locator(
          '[data-testid=metrics-table] tr[data-system="bm25"] td[data-measure="ndcg_cut_10"] .value',
        );
        await cell.waitFor({ timeout: 60_000 });
        expect(await cell.textContent()).toMatch(/^0\.\d{4}$/);
      } finally {
        await browser.close();
      }
    },
    120_000,
  );

  it('stops on SIGTERM and leaves no process, no listening port and no job in Redis behind', async () => {
    process.kill(child.pid!, 'SIGTERM');
    const deadline = Date.now() + 30_000;
    while (!exit && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(exit).toEqual({ code: 0, signal: null });
    expect(processesOf(child.pid!, clone)).toEqual([]);
    expect(await portAnswers(port)).toBe(false);
    // nothing of a job is left (no waiting or active job, payload, lock or worker registration); what stays is meant
    // to: the passage and query vector caches (the next start is warm; query vectors expire after
    // DOTRANK_QUERY_CACHE_TTL_SECONDS) and BullMQ's per-queue bookkeeping (meta, id, events, stalled-check)
    const keys = await keysUnder(redis, prefix);
    expect(
      keys.filter((key) => !/:q?vec:/.test(key) && !/^[^:]+:[^:]+:(meta|id|events|stalled-check)$/.test(key)),
    ).toEqual([]);
    for (const key of keys.filter((k) => /:qvec:/.test(k))) expect(await redis.ttl(key), key).toBeGreaterThan(0);
    const encoded = Number(/vector cache: (\d+) passages encoded/.exec(output)?.[1]);
    expect(encoded).toBeGreaterThan(0);
    expect(keys.filter((key) => key.startsWith(`${prefix}:vec:`)).length).toBeGreaterThanOrEqual(encoded);
    expect(output).toMatch(/SIGTERM: stopping/);
  }, 60_000);
});
