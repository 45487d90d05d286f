// Done-when of #19, end to end: with DOTRANK_EXPERIMENT=interleave, /search (embedded BM25 over Cranfield, the tiny
// TAS-B fixture through the in-process reranker) interleaves; simulated users (cascade clicks from the qrels grades)
// post clicks to /api/events; the wins, ties, losses and sign-test p-value in /api/experiments/current and in the
// dashboard's Online tab (Chromium) equal a count made here by hand from the logged impressions and events. Then the
// Judge tab grades from the keyboard and the judgments come out as qrels the datasets reader (dotrank eval) reads,
// pooled from logged traffic and from the query set of an eval output `dotrank eval` wrote.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { FastifyInstance } from 'fastify';
import { mulberry32 } from '@dotrank/core';
import { repoPath, tinyModelDir } from '@dotrank/core/testing';
import { createEmbeddedSource } from '@dotrank/bm25';
import type { EmbeddedBM25Source } from '@dotrank/bm25';
import { readCorpus, readQrels, readQueries, readRun } from '@dotrank/datasets';
import type { Qrels } from '@dotrank/datasets';
import { loadEncoder } from '@dotrank/encoder';
import type { Encoder } from '@dotrank/encoder';
import { cascadeModel, simulateClicks } from '@dotrank/experiments';
import type { Impression } from '@dotrank/experiments';
import { InProcessReranker } from '@dotrank/rerank-core';
import { MemoryVectorStore } from '@dotrank/vector-cache';
import { buildServer } from '@dotrank/search-api';
import { chromiumPath, launchChromium } from './browser.js';

const dashboardDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'apps', 'dashboard');
const cli = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'apps', 'cli', 'bin', 'dotrank.js');
/** The eval output the Judge tab pools from: `dotrank eval` (BM25 and TAS-B) over a few Cranfield queries. */
const EVAL_NAME = 'cran3';
const EVAL_QUERIES = 3;
const skipReason = !chromiumPath ? 'no chromium binary (/usr/bin/chromium); install Debian chromium' : undefined;
if (skipReason) console.warn(`online e2e skipped: ${skipReason}`);

const SEARCHES = 40;

/** The exact two-sided sign test, summed here independently of the package's implementation. */
function signTestByHand(wins: number, losses: number): number {
  const n = wins + losses;
  let tail = 0;
  let choose = 1;
  for (let k = 0; k <= Math.min(wins, losses); k++) {
    tail += choose / 2 ** n;
    choose = (choose * (n - k)) / (k + 1);
  }
  return Math.min(1, 2 * tail);
}

describe.skipIf(skipReason !== undefined)('online experiment in Chromium against the real API', () => {
  let tmp: string;
  let source: EmbeddedBM25Source;
  let encoder: Encoder;
  let app: FastifyInstance;
  let base: string;
  let browser: Browser;
  let page: Page;
  let qrels: Qrels;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'dotrank-online-e2e-'));
    const collection = repoPath('datasets/cranfield');
    source = await createEmbeddedSource();
    await source.index(readCorpus(collection));
    qrels = await readQrels(collection);
    encoder = await loadEncoder(tinyModelDir());
    await writeEvalOutput(tmp, collection, qrels);
    const reranker = new InProcessReranker({ encoder, store: new MemoryVectorStore() });
    app = await buildServer(
      { source, reranker, mode: 'in-process' },
      {
        logger: false,
        deadlineMs: 10_000,
        dashboard: { appDir: dashboardDir },
        evalDir: join(tmp, 'evals'),
        collectionDirs: [join(tmp, EVAL_NAME)],
        experiments: {
          name: 'e2e',
          mode: 'interleave',
          traffic: 1,
          maxEvents: 100_000,
          retentionDays: 30,
          judgmentsFile: join(tmp, 'judgments.jsonl'),
        },
      },
    );
    base = await app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    page.on('pageerror', (e) => pageErrors.push(String(e)));
  }, 300_000); // indexing, a dashboard build and a dotrank eval process, on a busy machine

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  it('simulated clicks give the hand-counted wins/ties/losses and p-value, in the API and the Online tab', async () => {
    const queries = (await readQueries(repoPath('datasets/cranfield'))).filter((q) => qrels.has(q.id));
    const random = mulberry32(19);
    const model = cascadeModel(4);
    const events: { impressionId: string; type: string; docId: string; position: number; eventId: string }[] = [];
    const qidOf = new Map<string, string>();
    for (let n = 0; n < SEARCHES; n++) {
      const query = queries[Math.floor(random() * queries.length)]!;
      const res = await fetch(`${base}/search?q=${encodeURIComponent(query.text)}&k=10&candidates=30`);
      const body = (await res.json()) as { impressionId: string; results: { id: string; system: string }[] };
      expect(res.status).toBe(200);
      expect(body.results.every((r) => r.system === 'bm25' || r.system === 'tasb')).toBe(true);
      qidOf.set(body.impressionId, query.id);
      const ids = body.results.map((r) => r.id);
      for (const p of simulateClicks(ids, qrels.get(query.id), model, random))
        events.push({
          impressionId: body.impressionId,
          type: 'click',
          docId: ids[p]!,
          position: p + 1,
          eventId: `${n}-${p}`,
        });
    }
    // half one at a time, half as a batch, and one repeated (idempotent)
    const half = Math.floor(events.length / 2);
    for (const event of events.slice(0, half))
      expect((await fetch(`${base}/api/events`, post(event))).status).toBe(200);
    expect((await fetch(`${base}/api/events`, post([...events.slice(half), events[0]!]))).status).toBe(200);

    // the hand count, from the impressions as logged (exported) and the events as sent
    const logged = (await (await fetch(`${base}/api/experiments/e2e/export`)).text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string } & Impression);
    const impressions = logged.filter((l) => l.kind === 'impression');
    expect(impressions).toHaveLength(SEARCHES);
    let wins = 0;
    let ties = 0;
    let losses = 0;
    for (const impression of impressions) {
      const clicked = new Set(events.filter((e) => e.impressionId === impression.impressionId).map((e) => e.docId));
      const tasb = impression.shown.filter((s) => clicked.has(s.docId) && s.system === 'tasb').length;
      const bm25 = impression.shown.filter((s) => clicked.has(s.docId) && s.system === 'bm25').length;
      if (tasb + bm25 === 0) continue;
      if (tasb > bm25) wins++;
      else if (tasb < bm25) losses++;
      else ties++;
    }
    expect(wins + ties + losses).toBeGreaterThan(10);
    const pValue = signTestByHand(wins, losses);
    const report = (await (await fetch(`${base}/api/experiments/current`)).json()) as Record<string, number>;
    expect(report).toMatchObject({ name: 'e2e', impressions: SEARCHES, wins, ties, losses });
    expect(report['pValue']).toBeCloseTo(pValue, 10);

    await page.goto(`${base}/dashboard/#online`);
    await page
      .getByTestId('online-wins')
      .filter({ hasText: String(wins) })
      .waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('online-ties').textContent()).toBe(String(ties));
    expect(await page.getByTestId('online-losses').textContent()).toBe(String(losses));
    expect(await page.getByTestId('online-pvalue').textContent()).toBe(pValue.toPrecision(4));
    expect(await page.getByTestId('online-per-query').locator('tbody tr').count()).toBeGreaterThan(0);
    expect(pageErrors).toEqual([]);
  });

  it('the Judge tab grades from the keyboard into qrels the datasets reader reads', async () => {
    await page.goto(`${base}/dashboard/#judge`);
    const item = page.getByTestId('judge-item');
    await item.waitFor({ timeout: 30_000 });
    const grades = [2, 0, 3];
    const judgedDocs: string[] = [];
    for (const [i, grade] of grades.entries()) {
      judgedDocs.push((await item.getAttribute('data-doc-id'))!);
      await page.keyboard.press(String(grade));
      await page
        .getByTestId('judge-count')
        .filter({ hasText: String(i + 1) })
        .waitFor({ timeout: 15_000 });
    }
    const qrelsText = await (await fetch(`${base}/api/judgments/qrels`)).text();
    const file = join(tmp, 'judged.qrels');
    await writeFile(file, qrelsText);
    const read = await readQrels(file);
    const found = [...read.values()].flatMap((docs) => [...docs]);
    expect(found.map(([doc]) => doc).sort()).toEqual([...judgedDocs].sort());
    expect(found.find(([doc]) => doc === judgedDocs[0])![1]).toBe(2);
    expect(found.find(([doc]) => doc === judgedDocs[2])![1]).toBe(3);
    expect(pageErrors).toEqual([]);
  });

  it("the Judge tab judges the pool of an eval's query set (BM25 and TAS-B top 10) into qrels with those pairs", async () => {
    await page.goto(`${base}/dashboard/#judge`);
    const source = page.getByTestId('judge-source');
    await source.locator(`option[value="${EVAL_NAME}"]`).waitFor({ state: 'attached', timeout: 30_000 });
    await source.selectOption(EVAL_NAME);
    const item = page.locator(`[data-testid=judge-view][data-pool="${EVAL_NAME}"] [data-testid=judge-item]`);
    await item.waitFor({ timeout: 30_000 });
    await page.getByTestId('judge-query').click(); // the grade keys work outside the selector
    const before = Number(await page.getByTestId('judge-count').textContent());
    const grades = [3, 1, 0, 2];
    const judged: { qid: string; docId: string; grade: number }[] = [];
    for (const [i, grade] of grades.entries()) {
      const [qid, docId] = [await item.getAttribute('data-qid'), await item.getAttribute('data-doc-id')];
      expect(await item.locator('.passage').textContent()).not.toBe('(no text found for this document)');
      judged.push({ qid: qid!, docId: docId!, grade });
      await page.keyboard.press(String(grade));
      await page
        .getByTestId('judge-count')
        .filter({ hasText: String(before + i + 1) })
        .waitFor({ timeout: 15_000 });
    }
    // every pair judged is one of the eval's queries and in the top 10 of its BM25 or TAS-B run
    const out = join(tmp, 'evals', EVAL_NAME);
    const [bm25, tasb] = await Promise.all([readRun(join(out, 'bm25.run')), readRun(join(out, 'tasb.run'))]);
    const top10 = (run: typeof bm25, qid: string) => (run.get(qid) ?? []).slice(0, 10).map((e) => e.docId);
    for (const { qid, docId } of judged) {
      expect(bm25.has(qid)).toBe(true);
      expect([...top10(bm25, qid), ...top10(tasb, qid)]).toContain(docId);
    }
    const lines = (await (await fetch(`${base}/api/judgments/qrels`)).text()).trim().split('\n');
    for (const { qid, docId, grade } of judged) expect(lines).toContain(`${qid} 0 ${docId} ${grade}`);
    const file = join(tmp, 'eval-judged.qrels');
    await writeFile(file, lines.join('\n'));
    const read = await readQrels(file);
    for (const { qid, docId, grade } of judged) expect(read.get(qid)?.get(docId)).toBe(grade);
    expect(pageErrors).toEqual([]);
  });
});

/**
 * `dotrank eval` (a real process) of BM25 and the tiny TAS-B over the first judged Cranfield queries, into
 * `<tmp>/evals/<EVAL_NAME>`; the slice's folder is the collection the server finds its queries and texts in.
 */
async function writeEvalOutput(tmp: string, collection: string, qrels: Qrels): Promise<void> {
  const slice = join(tmp, EVAL_NAME);
  await mkdir(join(slice, 'qrels'), { recursive: true });
  const queries = (await readQueries(collection)).filter((q) => qrels.has(q.id)).slice(0, EVAL_QUERIES);
  await writeFile(
    join(slice, 'queries.jsonl'),
    queries.map((q) => JSON.stringify({ _id: q.id, text: q.text })).join('\n'),
  );
  const lines = queries.flatMap((q) => [...qrels.get(q.id)!].map(([doc, grade]) => `${q.id}\t${doc}\t${grade}`));
  await writeFile(join(slice, 'qrels', 'test.tsv'), `query-id\tcorpus-id\tscore\n${lines.join('\n')}\n`);
  await symlink(join(collection, 'corpus.jsonl'), join(slice, 'corpus.jsonl'));
  const args = ['eval', '--collection', slice, '--model', tinyModelDir(), '--systems', 'bm25,tasb', '--depth', '20'];
  const env = { ...process.env };
  delete env['REDIS_URL'];
  delete env['ELASTICSEARCH_URL'];
  await promisify(execFile)(
    process.execPath,
    [cli, ...args, '--index-dir', join(tmp, 'index'), '--out', join(tmp, 'evals', EVAL_NAME), '--cache', 'memory'],
    { env, timeout: 240_000 },
  );
}

function post(body: unknown): RequestInit {
  return { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}
