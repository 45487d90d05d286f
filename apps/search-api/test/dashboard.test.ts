// The dashboard wherever the API is served: built on demand (vite, for real) when its build is missing or stale,
// /dashboard redirected to /dashboard/, and a 503 page plus a log line with the fix when it cannot be built.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { findRepoRoot, loadConfig } from '@dotrank/core';
import type { DotrankConfig } from '@dotrank/core';
import { CONTRACT_PASSAGES, tinyModelDir } from '@dotrank/core/testing';
import { createEmbeddedSource } from '@dotrank/bm25';
import { buildServer, startServer } from '../src/index.js';
import { ensureDashboardBuilt } from '../src/dashboard.js';
import type { RunningServer } from '../src/index.js';
import type { DashboardBuilder } from '../src/dashboard.js';
import { FakeReranker, FakeSource } from './fakes.js';

const repo = findRepoRoot(import.meta.dirname)!;

/** A pino destination that keeps every log line (JSON) for the assertions. */
function captureLogs(): { lines: string[]; logger: Record<string, unknown> } {
  const lines: string[] = [];
  return { lines, logger: { level: 'info', stream: { write: (line: string) => void lines.push(line) } } };
}

/** A stand-in dashboard project: what the staleness check reads, with a builder that writes a page saying `label`. */
async function fakeApp(root: string): Promise<{ appDir: string; builder: (label: string) => DashboardBuilder }> {
  const appDir = join(root, 'apps', 'dashboard');
  await mkdir(join(appDir, 'src'), { recursive: true });
  await writeFile(join(root, 'nx.json'), '{}');
  await writeFile(join(appDir, 'package.json'), '{"name":"fake-dashboard"}');
  await writeFile(join(appDir, 'index.html'), '<div id="root"></div>');
  await writeFile(join(appDir, 'src', 'main.tsx'), 'export {};');
  const builder =
    (label: string): DashboardBuilder =>
    (outDir) => ({
      command: process.execPath,
      args: [
        '-e',
        `require('fs').mkdirSync(${JSON.stringify(outDir)}, { recursive: true }); require('fs').writeFileSync(${JSON.stringify(join(outDir, 'index.html'))}, '<title>${label}</title>')`,
      ],
    });
  return { appDir, builder };
}

const brokenBuilder: DashboardBuilder = () => ({
  command: process.execPath,
  args: ['-e', 'console.error("Cannot find package vite"); process.exit(3)'],
});

describe('dotrank serve builds a missing dashboard (vite, for real)', () => {
  let dir: string;
  let running: RunningServer;
  const logs = captureLogs();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dotrank-dashboard-'));
    const source = await createEmbeddedSource({ dir: join(dir, 'index') });
    await source.index(CONTRACT_PASSAGES);
    await source.close();
    const config: DotrankConfig = { ...loadConfig({}), REDIS_URL: undefined };
    // the repository's dashboard sources, built into a folder of this test's own (no build there yet)
    running = await startServer(config, {
      indexDir: join(dir, 'index'),
      model: tinyModelDir(),
      port: 0,
      evalDir: dir,
      dashboard: { appDir: join(repo, 'apps', 'dashboard'), outDir: join(dir, 'dashboard-build') },
      logger: logs.logger,
    });
  }, 240_000);
  afterAll(async () => {
    await running?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers /dashboard/ with the built app, its assets included', async () => {
    const page = await fetch(`${running.url}/dashboard/`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('<title>dotrank · BM25 vs TAS-B</title>');
    expect(html).toContain('<div id="root"></div>');
    const script = /src="(\/dashboard\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    expect((await fetch(`${running.url}${script}`)).status).toBe(200);
    expect(logs.lines.join('')).toMatch(/dashboard: building .*apps\/dashboard \(no build yet\)/);
    expect(logs.lines.join('')).toMatch(/dashboard: built in \d+\.\d s/);
  });

  it('redirects /dashboard to /dashboard/, keeping the query', async () => {
    const bare = await fetch(`${running.url}/dashboard`, { redirect: 'manual' });
    expect(bare.status).toBe(301);
    expect(bare.headers.get('location')).toBe('/dashboard/');
    const withQuery = await fetch(`${running.url}/dashboard?eval=cranfield`, { redirect: 'manual' });
    expect(withQuery.headers.get('location')).toBe('/dashboard/?eval=cranfield');
  });

  it('does not build again while the build is newer than the sources', async () => {
    const again = await ensureDashboardBuilt({
      appDir: join(repo, 'apps', 'dashboard'),
      outDir: join(dir, 'dashboard-build'),
    });
    expect(again).toEqual({ dir: join(dir, 'dashboard-build'), rebuilt: false });
  });
});

describe('ensureDashboardBuilt', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dotrank-dashboard-stale-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('rebuilds when a source is newer than the build, and only then', async () => {
    const { appDir, builder } = await fakeApp(join(root, 'stale'));
    expect(await ensureDashboardBuilt({ appDir, builder: builder('first') })).toEqual({
      dir: join(appDir, 'dist'),
      rebuilt: true,
    });
    expect(await ensureDashboardBuilt({ appDir, builder: builder('second') })).toMatchObject({ rebuilt: false });
    const later = new Date(Date.now() + 60_000);
    await utimes(join(appDir, 'src', 'main.tsx'), later, later);
    expect(await ensureDashboardBuilt({ appDir, builder: builder('third') })).toMatchObject({ rebuilt: true });
  });

  it('removes the staging folders of builds whose process died, and keeps a live one', async () => {
    const { appDir, builder } = await fakeApp(join(root, 'abandoned'));
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!; // a process that has exited
    const abandoned = [join(appDir, `dist.building-${dead}`), join(appDir, `dist.previous-${dead}`)];
    const live = join(appDir, `dist.building-${process.ppid}`); // a running process (ours is the build's own)
    for (const dir of [...abandoned, live]) await mkdir(dir, { recursive: true });
    expect(await ensureDashboardBuilt({ appDir, builder: builder('fresh') })).toMatchObject({ rebuilt: true });
    for (const dir of abandoned) expect(existsSync(dir), dir).toBe(false);
    expect(existsSync(live)).toBe(true);
  });

  it('names a missing vite and the install that brings it', async () => {
    const { appDir } = await fakeApp(join(root, 'no-vite'));
    const build = await ensureDashboardBuilt({ appDir });
    expect(build).toEqual({
      problem: `the dashboard could not be built: vite is not installed for ${appDir} (dependencies installed without dev dependencies?)`,
      fix: `cd ${join(root, 'no-vite')} && npm ci && npm run build -w apps/dashboard`,
    });
  });

  it('keeps serving an older build when a rebuild fails, and says so', async () => {
    const { appDir, builder } = await fakeApp(join(root, 'older'));
    await ensureDashboardBuilt({ appDir, builder: builder('old') });
    const later = new Date(Date.now() + 60_000);
    await utimes(join(appDir, 'index.html'), later, later);
    const warnings: string[] = [];
    const build = await ensureDashboardBuilt({
      appDir,
      builder: brokenBuilder,
      log: { info: () => undefined, warn: (line) => warnings.push(line) },
    });
    expect(build).toEqual({ dir: join(appDir, 'dist'), rebuilt: false });
    expect(warnings.join('\n')).toMatch(
      /could not be built: .*exited with 3: Cannot find package vite; serving the older build/,
    );
  });
});

describe('a dashboard that cannot be built', () => {
  let root: string;
  let app: FastifyInstance;
  const logs = captureLogs();
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dotrank-dashboard-broken-'));
    const { appDir } = await fakeApp(root);
    const source = new FakeSource();
    app = await buildServer(
      { source, reranker: new FakeReranker(), mode: 'in-process' },
      { logger: logs.logger, dashboard: { appDir, builder: brokenBuilder } },
    );
  });
  afterAll(async () => {
    await app?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('answers /dashboard/ (and its paths) with a 503 page naming the reason and the command that fixes it', async () => {
    for (const url of ['/dashboard/', '/dashboard/assets/index.js']) {
      const response = await app.inject({ url });
      expect(response.statusCode).toBe(503);
      expect(response.headers['content-type']).toMatch(/^text\/html/);
      expect(response.body).toContain('The dashboard is not available');
      expect(response.body).toMatch(/exited with 3: Cannot find package vite/);
      expect(response.body).toContain(`cd ${root} &amp;&amp; npm run build -w apps/dashboard`);
    }
    expect((await app.inject({ url: '/dashboard' })).headers['location']).toBe('/dashboard/');
  });

  it('logs why and the fix', () => {
    const warning = logs.lines
      .map((line) => JSON.parse(line) as { level: number; msg: string })
      .find((entry) => entry.msg.includes('could not be built'));
    expect(warning?.level).toBe(40);
    expect(warning?.msg).toContain(
      `/dashboard/ answers 503 until it is built (fix: cd ${root} && npm run build -w apps/dashboard, then restart)`,
    );
  });

  it('answers 503 for a build folder without index.html when there are no sources to build from', async () => {
    const empty = await buildServer(
      { source: new FakeSource(), reranker: new FakeReranker(), mode: 'in-process' },
      { logger: false, dashboardDir: join(root, 'nothing') },
    );
    try {
      const response = await empty.inject({ url: '/dashboard/' });
      expect(response.statusCode).toBe(503);
      expect(response.body).toContain(`there is no dashboard build in ${join(root, 'nothing')}`);
    } finally {
      await empty.close();
    }
  });
});
