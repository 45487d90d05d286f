// Finding 7 of #18: with DOTRANK_API_KEY set, the dashboard asks for the key once (on the first 401), keeps it in
// sessionStorage and sends it as x-api-key on every request. Headless Chromium against the real API.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, launchChromium } from './browser.js';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { FastifyInstance } from 'fastify';
import { CONTRACT_PASSAGES, repoPath, tinyModelDir } from '@dotrank/core/testing';
import { createEmbeddedSource, type EmbeddedBM25Source } from '@dotrank/bm25';
import { loadEncoder, type Encoder } from '@dotrank/encoder';
import { InProcessReranker } from '@dotrank/rerank-core';
import { MemoryVectorStore } from '@dotrank/vector-cache';
import { buildServer } from '@dotrank/search-api';
import { writeSyntheticEval } from '@dotrank/dashboard/synthetic-eval';

const skipReason = !chromiumPath
  ? 'no chromium binary (/usr/bin/chromium); install Debian chromium to run the dashboard e2e tests'
  : undefined;
if (skipReason) console.warn(`dashboard API key e2e skipped: ${skipReason}`);

const API_KEY = 'e2e-dashboard-key';

describe.skipIf(skipReason !== undefined)('dashboard with DOTRANK_API_KEY set, in Chromium', () => {
  let tmp: string;
  let source: EmbeddedBM25Source;
  let encoder: Encoder;
  let app: FastifyInstance;
  let base: string;
  let browser: Browser;

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'dotrank-dashboard-key-'));
    await writeSyntheticEval(join(tmp, 'evals', 'synthetic'), { queries: 50, documents: 200 });
    source = await createEmbeddedSource();
    await source.index(CONTRACT_PASSAGES);
    encoder = await loadEncoder(tinyModelDir(), { intraOpThreads: 1 });
    const reranker = new InProcessReranker({ encoder, store: new MemoryVectorStore() });
    // the server builds the dashboard when its build is missing or stale
    app = await buildServer(
      { source, reranker, mode: 'in-process' },
      {
        evalDir: join(tmp, 'evals'),
        dashboard: { appDir: repoPath('apps/dashboard') },
        apiKey: API_KEY,
        logger: false,
      },
    );
    base = await app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchChromium();
  }, 600_000);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await encoder?.close();
    await source?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  /** A fresh tab (own sessionStorage) recording every API call: its path, status and the key it sent. */
  async function openTab(): Promise<{
    context: BrowserContext;
    page: Page;
    calls: { path: string; status: number; key?: string }[];
  }> {
    const context = await browser.newContext();
    const page = await context.newPage();
    const calls: { path: string; status: number; key?: string }[] = [];
    page.on('response', (response) => {
      const url = new URL(response.url());
      if (url.pathname.startsWith('/dashboard')) return;
      const key = response.request().headers()['x-api-key'];
      calls.push({ path: url.pathname, status: response.status(), ...(key !== undefined ? { key } : {}) });
    });
    await page.goto(`${base}/dashboard/#offline`);
    return { context, page, calls };
  }

  it('asks for the key once, then loads the eval data sending it on every request', async () => {
    const { context, page, calls } = await openTab();
    const form = page.locator('[data-testid=api-key-form]');
    await form.waitFor();
    expect(calls.every((c) => c.status === 401 && c.key === undefined)).toBe(true);
    await page.locator('[data-testid=api-key-input]').fill(API_KEY);
    await form.locator('button[type=submit]').click();
    await page.locator('[data-testid=metrics-table]').waitFor();
    await expect.poll(() => page.locator('[data-testid=eval-select] option').allTextContents()).toContain('synthetic');
    expect(await form.count()).toBe(0);
    const afterKey = calls.filter((c) => c.key !== undefined);
    expect(afterKey.length).toBeGreaterThan(0);
    expect(afterKey.every((c) => c.key === API_KEY && c.status === 200)).toBe(true);
    expect(await page.evaluate("sessionStorage.getItem('dotrank.apiKey')")).toBe(API_KEY);

    // a reload in the same tab keeps the key: no question, no 401
    calls.length = 0;
    await page.reload();
    await page.locator('[data-testid=metrics-table]').waitFor();
    expect(await form.count()).toBe(0);
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.every((c) => c.key === API_KEY && c.status !== 401)).toBe(true);
    await context.close();
  });

  it('a wrong key is refused and asked for again', async () => {
    const { context, page } = await openTab();
    const form = page.locator('[data-testid=api-key-form]');
    await page.locator('[data-testid=api-key-input]').fill('not-the-key');
    await form.locator('button[type=submit]').click();
    await expect.poll(() => form.textContent()).toContain('That key was refused');
    await page.locator('[data-testid=api-key-input]').fill(API_KEY);
    await form.locator('button[type=submit]').click();
    await page.locator('[data-testid=metrics-table]').waitFor();
    expect(await form.count()).toBe(0);
    await context.close();
  });
});
