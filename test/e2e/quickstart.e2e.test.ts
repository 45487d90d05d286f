// `npm start` on a fresh clone: waits for readiness, queries the API, loads the dashboard in Chromium, then stops
// everything and checks that no process of the clone is left behind.
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { chromium } from 'playwright-core';
import { findRepoRoot } from '@dotrank/core';
import { redisUrlForTests, uniquePrefix, deleteKeysWithPrefix } from '@dotrank/core/testing';

const repo = findRepoRoot(import.meta.dirname)!;
const chromiumPath = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const skipReason = !existsSync(join(repo, '.git')) ? 'not a git checkout (needs git clone)' : undefined;
if (skipReason) console.warn(`npm start end-to-end skipped: ${skipReason}`);
if (!chromiumPath) console.warn('npm start end-to-end: no /usr/bin/chromium, the dashboard check is skipped (install Debian chromium)');

/** Processes running in the folder or naming it (ours to clean up). */
function processesUnder(dir: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      const cwd = readlinkSync(`/proc/${pid}/cwd`);
      if ((cmd.includes(dir) || cwd.startsWith(dir)) && Number(pid) !== process.pid) found.push(`${pid}: ${cmd.trim()}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

describe.skipIf(skipReason !== undefined)('npm start on a fresh clone (fixture model, Cranfield)', () => {
  const prefix = uniquePrefix('quickstart');
  let work: string;
  let clone: string;
  let child: ChildProcess;
  let output = '';
  let dashboardUrl = '';
  let baseUrl = '';
  let exitCode: number | null | undefined;
  let exitSignal: string | null = null;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'dotrank-quickstart-'));
    clone = join(work, 'dotrank');
    execFileSync('git', ['clone', '--quiet', repo, clone]);
    // no node_modules in the clone: `npm start` installs them itself (from the local npm cache when warm)
    await mkdir(join(work, 'data'));
    child = spawn('npm', ['start', '--', '--no-pull', '--port', '0', '--no-progress'], {
      cwd: clone,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        CI: 'true',
        REDIS_URL: redisUrlForTests(),
        DOTRANK_DATA_DIR: join(work, 'data'),
        DOTRANK_QUEUE_PREFIX: prefix,
        DOTRANK_KEY_PREFIX: prefix,
        DOTRANK_RERANK_DEADLINE_MS: '20000',
        DOTRANK_MODEL: '',
        npm_config_prefer_offline: 'true',
      },
    });
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    child.on('exit', (code, signal) => {
      exitCode = code;
      exitSignal = signal;
    });
    await new Promise<void>((ready, fail) => {
      const timer = setInterval(() => {
        const match = /dashboard: (http:\/\/\S+\/dashboard\/)/.exec(output);
        if (match) {
          clearInterval(timer);
          dashboardUrl = match[1]!;
          baseUrl = dashboardUrl.replace(/\/dashboard\/$/, '');
          ready();
        } else if (exitCode !== undefined) {
          clearInterval(timer);
          fail(new Error(`npm start exited with ${exitCode}:\n${output}`));
        }
      }, 200);
    });
  }, 900_000);

  afterAll(async () => {
    if (child && exitCode === undefined && child.pid) process.kill(-child.pid, 'SIGKILL');
    for (const line of clone ? processesUnder(clone) : []) process.kill(Number(line.split(':')[0]), 'SIGKILL');
    const redis = new Redis(redisUrlForTests());
    await deleteKeysWithPrefix(redis, prefix);
    await redis.quit();
    if (work) await rm(work, { recursive: true, force: true });
  }, 60_000);

  it('says which mode and model it uses, with the fixture-model notice and a table', () => {
    expect(output).toMatch(/mode: queue/);
    expect(output).toMatch(/FIXTURE MODEL: TAS-B SCORES BELOW ARE NOT MEANINGFUL/);
    expect(output).toMatch(/^bm25\s+0\.4967\s+0\.3341/m);
  });

  it('answers /search with reranked results from the worker', async () => {
    const response = await fetch(`${baseUrl}/search?q=${encodeURIComponent('boundary layer transition')}&fusion=tasb&k=5`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { degraded: boolean; fusion: string; results: { id: string; rank: number; score: number; bm25Score: number }[] };
    expect(body.degraded).toBe(false);
    expect(body.fusion).toBe('tasb');
    expect(body.results.map((r) => r.rank)).toEqual([1, 2, 3, 4, 5]);
  });

  it.skipIf(!chromiumPath)('serves the dashboard with the evaluation', async () => {
    const browser = await chromium.launch({
      executablePath: chromiumPath!,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage();
      await page.goto(dashboardUrl);
      const cell = page.locator('[data-testid=metrics-table] tr[data-system="bm25"] td[data-measure="ndcg_cut_10"] .value');
      await cell.waitFor({ timeout: 60_000 });
      expect(await cell.textContent()).toBe('0.3341');
      await mkdir(join(repo, 'test-artifacts'), { recursive: true });
      await page.screenshot({ path: join(repo, 'test-artifacts', 'quickstart-dashboard.png'), fullPage: true });
    } finally {
      await browser.close();
    }
  }, 120_000);

  it('stops everything on SIGTERM with no process left behind', async () => {
    // as a terminal's Ctrl-C or a supervisor would: the signal reaches the whole process group (npm itself then
    // ends by that signal at once; the CLI stops the API and its worker gracefully)
    process.kill(-child.pid!, 'SIGTERM');
    const deadline = Date.now() + 30_000;
    while (exitCode === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(exitCode === 0 || exitSignal === 'SIGTERM').toBe(true);
    // the CLI, the API and the worker finish their graceful stop on their own
    let leftovers = processesUnder(clone);
    while (leftovers.length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      leftovers = processesUnder(clone);
    }
    expect(leftovers).toEqual([]);
    expect(output).toMatch(/SIGTERM: stopping/);
  }, 60_000);
});
