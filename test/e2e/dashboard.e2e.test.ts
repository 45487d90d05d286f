// End-to-end: the built dashboard in headless Chromium against the real search API (in-process: embedded BM25
// over Cranfield + the tiny TAS-B fixture model through the in-process reranker), serving a real eval output of
// Cranfield produced by `dotrank eval` (or, while that command is not there yet, by the same building blocks).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, launchChromium } from './browser.js';
import type { Browser, Page } from 'playwright-core';
import type { FastifyInstance } from 'fastify';
import { repoPath, tinyModelDir } from '@dotrank/core/testing';
import { createEmbeddedSource } from '@dotrank/bm25';
import type { EmbeddedBM25Source } from '@dotrank/bm25';
import { readCorpus } from '@dotrank/datasets';
import { loadEncoder } from '@dotrank/encoder';
import type { Encoder } from '@dotrank/encoder';
import { InProcessReranker } from '@dotrank/rerank-core';
import { MemoryVectorStore } from '@dotrank/vector-cache';
import { buildServer } from '@dotrank/search-api';
import type { Passage } from '@dotrank/core';
import { writeSyntheticEval } from '@dotrank/dashboard/synthetic-eval';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dashboardDir = join(repoRoot, 'apps', 'dashboard');
const distDir = join(dashboardDir, 'dist');
const artifacts = join(repoRoot, 'test-artifacts', 'dashboard');
const cli = join(repoRoot, 'apps', 'cli', 'bin', 'dotrank.js');

const skipReason = !chromiumPath
  ? 'no chromium binary (/usr/bin/chromium); install Debian chromium to run the dashboard e2e tests'
  : undefined;
if (skipReason) console.warn(`dashboard e2e skipped: ${skipReason}`);

const SYNTHETIC_QUERIES = 5000;

/** Newest modification time of the dashboard sources (what `vite build` reads). */
function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

function buildDashboardIfStale(): void {
  const index = join(distDir, 'index.html');
  const sources = Math.max(
    newestSource(join(dashboardDir, 'src')),
    statSync(join(dashboardDir, 'index.html')).mtimeMs,
    statSync(join(dashboardDir, 'vite.config.ts')).mtimeMs,
  );
  if (existsSync(index) && statSync(index).mtimeMs >= sources) return;
  const vite = join(dashboardDir, 'node_modules', 'vite', 'bin', 'vite.js');
  const result = spawnSync(
    process.execPath,
    [existsSync(vite) ? vite : join(repoRoot, 'node_modules', 'vite', 'bin', 'vite.js'), 'build'],
    {
      cwd: dashboardDir,
      encoding: 'utf8',
    },
  );
  if (result.status !== 0) throw new Error(`vite build failed:\n${result.stdout}\n${result.stderr}`);
}

/** True once the lead's `dotrank eval` command exists (the stub registers nothing, so --help fails). */

interface MetricsFile {
  baseline: string;
  measures: string[];
  systems: Record<
    string,
    {
      aggregate: Record<string, number>;
      perQuery: Record<string, Record<string, number>>;
      significance?: Record<string, { pValueTTest: number; pValueRandomization: number }>;
    }
  >;
}

describe.skipIf(skipReason !== undefined)('dashboard in Chromium against the real API', () => {
  let tmp: string;
  let evalDir: string;
  let emptyEvalDir: string;
  let source: EmbeddedBM25Source;
  let encoder: Encoder;
  let reranker: InProcessReranker;
  let app: FastifyInstance;
  let emptyApp: FastifyInstance;
  let base: string;
  let browser: Browser;
  let page: Page;
  let metrics: MetricsFile;
  const pageErrors: string[] = [];
  const collectionDir = repoPath('datasets/cranfield');

  const shot = async (name: string) => {
    // from the top, so the sticky header sits where a user sees it
    await page.evaluate('window.scrollTo(0, 0)');
    await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
  };

  beforeAll(async () => {
    buildDashboardIfStale();
    mkdirSync(artifacts, { recursive: true });
    tmp = await mkdtemp(join(tmpdir(), 'dotrank-dashboard-e2e-'));
    evalDir = join(tmp, 'evals');
    emptyEvalDir = join(tmp, 'empty');
    mkdirSync(emptyEvalDir, { recursive: true });
    const out = join(evalDir, 'cranfield');

    const passages: Passage[] = [];
    for await (const p of readCorpus(collectionDir)) passages.push(p);
    source = await createEmbeddedSource();
    await source.index(passages);
    encoder = await loadEncoder(tinyModelDir());
    reranker = new InProcessReranker({ encoder, store: new MemoryVectorStore() });

    const args = [
      'eval',
      '--collection',
      collectionDir,
      '--out',
      out,
      '--model',
      tinyModelDir(),
      '--depth',
      '100',
      '--cache',
      'memory',
      '--no-progress',
    ];
    const r = spawnSync(process.execPath, [cli, ...args], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 600_000,
      env: { ...process.env, DOTRANK_DATA_DIR: join(tmp, 'data') },
    });
    if (r.status !== 0) throw new Error(`dotrank eval failed (${r.status}):\n${r.stderr}`);
    metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as MetricsFile;
    await writeSyntheticEval(join(evalDir, 'synthetic-5000'), { queries: SYNTHETIC_QUERIES });

    const deps = { source, reranker, mode: 'in-process' as const };
    app = await buildServer(deps, {
      evalDir,
      dashboardDir: distDir,
      logger: false,
      deadlineMs: 30_000,
      collectionDirs: [collectionDir],
    });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
    emptyApp = await buildServer({ ...deps }, { evalDir: emptyEvalDir, dashboardDir: distDir, logger: false });

    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    page.on('pageerror', (e) => pageErrors.push(e.message));
  }, 900_000);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await emptyApp?.close();
    await reranker?.close();
    await encoder?.close();
    await source?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('shows the metrics table with the numbers of metrics.json', async () => {
    await page.goto(`${base}/dashboard/#offline`);
    await page.locator('[data-testid=eval-select]').selectOption('cranfield');
    const table = page.locator('[data-testid=metrics-table]');
    await table.waitFor();
    const shown = metrics.measures.filter((m) => !m.startsWith('num_'));
    expect(shown.length).toBeGreaterThan(0);
    for (const [system, report] of Object.entries(metrics.systems)) {
      for (const m of shown) {
        const cell = table.locator(`tr[data-system="${system}"] td[data-measure="${m}"]`);
        await expect.poll(() => cell.locator('.value').textContent()).toBe(report.aggregate[m]!.toFixed(4));
        const sig = report.significance?.[m];
        if (system !== metrics.baseline && sig) {
          const marker = (await cell.locator('.marker').textContent()) ?? '';
          expect(marker).toBe(sig.pValueRandomization < 0.05 ? '†' : '');
          expect(await cell.getAttribute('title')).toContain('randomization p = ');
        }
      }
    }
    await shot('offline-cranfield');
  });

  it('draws one bar per query in the per-query delta chart and counts wins, ties and losses', async () => {
    const measure =
      metrics.measures.find((m) => /^ndcg_cut[._]10$/.test(m)) ?? metrics.measures.find((m) => m.startsWith('ndcg'))!;
    const system =
      Object.keys(metrics.systems).find((s) => s === 'tasb') ??
      Object.keys(metrics.systems).find((s) => s !== metrics.baseline)!;
    const baseRuns = metrics.systems[metrics.baseline]!.perQuery;
    const sysRuns = metrics.systems[system]!.perQuery;
    const qids = Object.keys(sysRuns).filter(
      (q) => sysRuns[q]![measure] !== undefined && baseRuns[q]?.[measure] !== undefined,
    );
    const deltas = qids.map((q) => sysRuns[q]![measure]! - baseRuns[q]![measure]!);
    const chart = page.locator('[data-testid=delta-chart]');
    await expect.poll(() => chart.getAttribute('data-count')).toBe(String(qids.length));
    expect(await chart.locator('canvas').count()).toBeGreaterThan(0);
    expect(await page.locator('[data-testid=wins]').textContent()).toBe(
      deltas.filter((d) => d > 1e-9).length.toLocaleString('en-US'),
    );
    expect(await page.locator('[data-testid=losses]').textContent()).toBe(
      deltas.filter((d) => d < -1e-9).length.toLocaleString('en-US'),
    );
    expect(await page.locator('[data-testid=ties]').textContent()).toBe(
      deltas.filter((d) => Math.abs(d) <= 1e-9).length.toLocaleString('en-US'),
    );
  });

  it('opens the query drill-down with both rankings, relevance labels, movements and passage text', async () => {
    const firstOpen = page.locator('[data-testid=query-table] tbody tr').first().locator('button');
    const testId = (await firstOpen.getAttribute('data-testid'))!;
    const qid = testId.replace(/^open-/, '');
    await firstOpen.click();
    const drill = page.locator(`[data-testid=drilldown][data-qid="${qid}"]`);
    await drill.waitFor();
    const baselineItems = drill.locator('[data-testid=ranking-baseline] li');
    const systemItems = drill.locator('[data-testid=ranking-system] li');
    await expect.poll(() => baselineItems.count()).toBeGreaterThan(0);
    expect(await systemItems.count()).toBeGreaterThan(0);
    expect(await baselineItems.count()).toBeLessThanOrEqual(10);
    // every row carries a relevance label, the reranked side a movement label
    expect(await drill.locator('[data-testid=ranking-baseline] .rel').count()).toBe(await baselineItems.count());
    const moves = await drill.locator('[data-testid=movement]').allTextContents();
    expect(moves.length).toBe(await systemItems.count());
    for (const m of moves) expect(m).toMatch(/^(↑\d+|↓\d+|=|new)$/);
    // passage text comes from the collection
    await expect.poll(() => drill.locator('.passage').first().textContent()).not.toMatch(/loading|unavailable/);
    const queries = readFileSync(join(collectionDir, 'queries.jsonl'), 'utf8');
    const query = queries
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { _id: string; text: string })
      .find((q) => q._id === qid);
    if (query)
      await expect.poll(() => drill.locator('[data-testid=query-text]').textContent()).toContain(query.text.trim());
    await drill.scrollIntoViewIfNeeded();
    await shot('offline-drilldown');
  });

  it('keeps a 5,000-query eval output usable (paginated list, all bars counted)', async () => {
    await page.locator('[data-testid=eval-select]').selectOption('synthetic-5000');
    const chart = page.locator('[data-testid=delta-chart]');
    await expect.poll(() => chart.getAttribute('data-count'), { timeout: 30_000 }).toBe(String(SYNTHETIC_QUERIES));
    expect(await page.locator('[data-testid=query-table] tbody tr').count()).toBe(25);
    await page.getByRole('button', { name: 'Last page' }).click();
    expect(await page.locator('[data-testid=query-table] tbody tr').count()).toBe(SYNTHETIC_QUERIES % 25 || 25);
    await shot('offline-synthetic-5000');
  });

  it('updates the live view after searches are made', async () => {
    await page.locator('[data-testid=tab-live]').click();
    const live = page.locator('[data-testid=live-view]');
    await expect.poll(() => live.getAttribute('data-samples').then(Number)).toBeGreaterThan(0);
    const before = Number((await live.getAttribute('data-total-requests')) || 0);
    for (const q of ['boundary layer transition', 'heat transfer hypersonic', 'buckling of cylindrical shells']) {
      for (const fusion of ['bm25', 'tasb']) {
        const r = await fetch(`${base}/search?q=${encodeURIComponent(q)}&k=10&fusion=${fusion}`);
        expect(r.status).toBe(200);
      }
    }
    await expect
      .poll(() => live.getAttribute('data-total-requests').then(Number), { timeout: 15_000 })
      .toBeGreaterThanOrEqual(before + 6);
    await expect.poll(() => page.locator('[data-testid=stage-table] tbody tr').count()).toBeGreaterThan(0);
    expect(await page.locator('[data-testid=kpi-p50]').textContent()).toMatch(/ms$/);
    await shot('live');
  });

  it('shows BM25 and TAS-B rankings side by side for a query', async () => {
    await page.locator('[data-testid=tab-try]').click();
    const q = 'what similarity laws must be obeyed when constructing aeroelastic models';
    await page.locator('[data-testid=search-input]').fill(q);
    await page.locator('[data-testid=search-submit]').click();
    const left = page.locator('[data-testid=results-bm25]');
    const right = page.locator('[data-testid=results-tasb]');
    await expect.poll(() => left.getAttribute('data-count')).toBe('10');
    await expect.poll(() => right.getAttribute('data-count')).toBe('10');
    const api = async (fusion: string) =>
      (
        (await (await fetch(`${base}/search?q=${encodeURIComponent(q)}&k=10&fusion=${fusion}`)).json()) as {
          results: { id: string; score: number }[];
        }
      ).results;
    const [bm25, tasb] = await Promise.all([api('bm25'), api('tasb')]);
    expect(await left.locator('li').evaluateAll((els) => els.map((e) => e.getAttribute('data-doc')))).toEqual(
      bm25.map((r) => r.id),
    );
    expect(await right.locator('li').evaluateAll((els) => els.map((e) => e.getAttribute('data-doc')))).toEqual(
      tasb.map((r) => r.id),
    );
    expect(await left.locator('li .score').first().textContent()).toBe(bm25[0]!.score.toFixed(4));
    await shot('try-it');
  });

  it('explains how to produce data when the server has no eval output', async () => {
    const emptyBase = await emptyApp.listen({ port: 0, host: '127.0.0.1' });
    const p = await browser.newPage({ viewport: { width: 1360, height: 700 } });
    try {
      await p.goto(`${emptyBase}/dashboard/`);
      const empty = p.locator('[data-testid=empty-state]');
      await empty.waitFor();
      expect(await empty.textContent()).toContain(
        'npx dotrank eval --collection datasets/cranfield --out .dotrank/evals/cranfield',
      );
      await p.screenshot({ path: join(artifacts, 'offline-empty.png'), fullPage: true });
    } finally {
      await p.close();
    }
  });

  it('raised no uncaught errors in the page', () => {
    expect(pageErrors).toEqual([]);
  });
});
