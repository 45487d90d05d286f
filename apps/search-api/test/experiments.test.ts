// Online experiments through the API (#19): /search shadowed and interleaved, events in, the report out.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { redisUrlForTests, uniquePrefix } from '@dotrank/core/testing';
import type { Impression } from '@dotrank/experiments';
import type { Passage } from '@dotrank/core';
import { buildServer } from '../src/index.js';
import type { ServerOptions } from '../src/index.js';
import { FakeReranker, FakeSource } from './fakes.js';
import { deleteKeys } from './helpers/redis.js';

/** Passages whose term-overlap order (the fake BM25) and length order (the fake TAS-B) differ. */
const PASSAGES: Passage[] = Array.from({ length: 30 }, (_, i) => ({
  id: `d${i}`,
  text: `${'wing '.repeat(1 + (i % 4))}${'flow '.repeat(i % 3)}${'x'.repeat(((i * 7) % 11) * 5)} lift`,
}));

let app: FastifyInstance;
let reranker: FakeReranker;

async function make(experiments?: ServerOptions['experiments']): Promise<FastifyInstance> {
  const source = new FakeSource();
  await source.index(PASSAGES);
  reranker = new FakeReranker();
  return buildServer(
    { source, reranker, mode: 'in-process' },
    { logger: false, deadlineMs: 500, ...(experiments ? { experiments } : {}) },
  );
}

const base = { name: 'api-test', mode: 'off' as const, traffic: 1, maxEvents: 10_000, retentionDays: 30 };

afterEach(async () => {
  await app?.close();
});

const search = async (query: string) => {
  const res = await app.inject({ method: 'GET', url: `/search?${query}` });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
};

describe('/search in an experiment', () => {
  it('interleave: each result says its system; the impression logs both top-k lists and the shown list', async () => {
    app = await make(base);
    const bm25 = (await search('q=wing%20flow&k=5&fusion=bm25')).results.map((r: { id: string }) => r.id);
    const tasb = (await search('q=wing%20flow&k=5')).results.map((r: { id: string }) => r.id);
    expect(bm25).not.toEqual(tasb);
    const body = await search('q=wing%20flow&k=5&experiment=interleave');
    expect(body.experiment).toBe('interleave');
    expect(typeof body.impressionId).toBe('string');
    expect(body.results.map((r: { rank: number }) => r.rank)).toEqual([1, 2, 3, 4, 5]);
    for (const r of body.results) expect((r.system === 'bm25' ? bm25 : tasb).includes(r.id)).toBe(true);
    const [impression] = await app.experiments.store.impressions('api-test');
    expect(impression).toMatchObject({
      impressionId: body.impressionId,
      mode: 'interleave',
      query: 'wing flow',
      control: bm25,
      treatment: tasb,
      shown: body.results.map((r: { id: string; system: string }) => ({ docId: r.id, system: r.system })),
    });
    // without the parameter, and with experiment=off, no experiment
    expect((await search('q=wing&k=5')).impressionId).toBeUndefined();
  });

  it('DOTRANK_EXPERIMENT=interleave applies to requests that do not ask; experiment=off opts out', async () => {
    app = await make({ ...base, mode: 'interleave' });
    expect((await search('q=wing&k=3')).experiment).toBe('interleave');
    const off = await search('q=wing&k=3&experiment=off');
    expect(off.impressionId).toBeUndefined();
    expect(off.results[0].system).toBeUndefined();
  });

  it('interleave with a failed rerank serves the first-stage order without an impression', async () => {
    app = await make({ ...base, mode: 'interleave' });
    reranker.failWith = new Error('worker gone');
    const body = await search('q=wing&k=3');
    expect(body.degraded).toBe(true);
    expect(body.impressionId).toBeUndefined();
    expect(await app.experiments.store.impressions('api-test')).toEqual([]);
  });

  it('shadow: answers with BM25 before the background rerank ends, then logs both rankings', async () => {
    app = await make({ ...base, mode: 'shadow' });
    const bm25 = (await search('q=wing%20flow&k=5&fusion=bm25&experiment=off')).results.map(
      (r: { id: string }) => r.id,
    );
    reranker.delayMs = 300;
    const started = performance.now();
    const body = await search('q=wing%20flow&k=5');
    expect(performance.now() - started).toBeLessThan(300); // the answer did not wait for the rerank
    expect(body.experiment).toBe('shadow');
    expect(body.results.map((r: { id: string }) => r.id)).toEqual(bm25);
    expect(body.results.every((r: { system: string }) => r.system === 'bm25')).toBe(true);
    expect(await app.experiments.store.impressions('api-test')).toEqual([]);
    await app.experiments.settled();
    const [impression] = await app.experiments.store.impressions('api-test');
    expect(impression!.control).toEqual(bm25);
    expect(impression!.treatment).toHaveLength(5);
    expect(impression!.treatment).not.toEqual(bm25);
    const report = (await app.inject({ method: 'GET', url: '/api/experiments/current' })).json();
    expect(report.shadow.impressions).toBe(1);
    expect(report.shadow.disagreements[0].control).toEqual(bm25);
  });
});

describe('POST /api/events and the report', () => {
  /** Logs impressions, clicks on them as given, and counts wins/ties/losses by hand from what was logged. */
  async function clickAndCount(clicks: number[][]) {
    const impressions: Impression[] = [];
    for (let i = 0; i < clicks.length; i++) {
      const body = await search(`q=wing%20${i % 2 ? 'flow' : 'lift'}&k=6&experiment=interleave`);
      impressions.push((await app.experiments.store.getImpressions([body.impressionId])).get(body.impressionId)!);
    }
    let wins = 0;
    let ties = 0;
    let losses = 0;
    const events = [];
    for (const [i, positions] of clicks.entries()) {
      const shown = impressions[i]!.shown;
      const tasb = positions.filter((p) => shown[p - 1]!.system === 'tasb').length;
      const bm25 = positions.length - tasb;
      if (positions.length > 0) {
        if (tasb > bm25) wins++;
        else if (tasb < bm25) losses++;
        else ties++;
      }
      for (const p of positions)
        events.push({
          impressionId: impressions[i]!.impressionId,
          type: 'click',
          docId: shown[p - 1]!.docId,
          position: p,
        });
    }
    return { events, expected: { wins, ties, losses } };
  }

  it('events (one, a batch, UBI names) give the hand-counted wins, ties and losses, and the sign test', async () => {
    app = await make(base);
    const { events, expected } = await clickAndCount([[1], [2], [1, 2], [3], [], [1, 3, 5], [2, 4], [1]]);
    const first = await app.inject({ method: 'POST', url: '/api/events', payload: { ...events[0], eventId: 'ev-0' } });
    expect(first.json()).toEqual({ accepted: 1, duplicates: 0 });
    const ubi = events.slice(1, 3).map((e) => ({
      query_id: e.impressionId,
      action_name: 'click',
      event_attributes: { object: { object_id: e.docId } },
      position: { ordinal: e.position },
    }));
    const batch = await app.inject({
      method: 'POST',
      url: '/api/events',
      payload: [...ubi, ...events.slice(3), { ...events[0], eventId: 'ev-0' }],
    });
    expect(batch.json()).toEqual({ accepted: events.length - 1, duplicates: 1 });
    const report = (await app.inject({ method: 'GET', url: '/api/experiments/current' })).json();
    expect(report).toMatchObject({ name: 'api-test', impressions: 8, impressionsWithClicks: 7, ...expected });
    expect(report.delta).toBeCloseTo((expected.wins - expected.losses) / 7, 12);
    // exact two-sided binomial by hand
    const n = expected.wins + expected.losses;
    const low = Math.min(expected.wins, expected.losses);
    let tail = 0;
    for (let k = 0, c = 1; k <= low; k++, c = (c * (n - k + 1)) / k) tail += c / 2 ** n;
    expect(report.pValue).toBeCloseTo(Math.min(1, 2 * tail), 12);
    expect(report.ci).toHaveLength(2);
    expect((await app.inject({ method: 'GET', url: '/api/experiments/api-test' })).json().wins).toBe(expected.wins);
  });

  it('refuses unknown impressions, bad types and bad positions, naming the field', async () => {
    app = await make(base);
    const body = await search('q=wing&k=3&experiment=interleave');
    const ok = { impressionId: body.impressionId, type: 'click', docId: body.results[0].id };
    const refused = async (payload: unknown) => {
      const res = await app.inject({ method: 'POST', url: '/api/events', payload: payload as object });
      expect(res.statusCode).toBe(400);
      return res.json().field;
    };
    expect(await refused({ ...ok, impressionId: 'never-shown' })).toBe('impressionId');
    expect(await refused({ ...ok, type: 'scroll' })).toBe('type');
    expect(await refused({ ...ok, position: 3 })).toBe('position');
    expect(await refused([ok, { ...ok, position: -1 }])).toBe('[1].position');
    expect(await refused({ ...ok, docId: 'd999' })).toBe('docId');
    expect((await app.inject({ method: 'GET', url: '/api/experiments/bad%20name' })).statusCode).toBe(400);
  });

  it('with Redis: impressions and events in Redis Streams, exported as JSON lines', async () => {
    const keyPrefix = uniquePrefix('api-experiments');
    try {
      app = await make({ ...base, redisUrl: redisUrlForTests(), keyPrefix });
      const { events, expected } = await clickAndCount([[1], [2], [1, 2]]);
      await app.inject({ method: 'POST', url: '/api/events', payload: events });
      const report = (await app.inject({ method: 'GET', url: '/api/experiments/current' })).json();
      expect(report).toMatchObject({ store: 'redis', impressions: 3, ...expected });
      const lines = (await app.inject({ method: 'GET', url: '/api/experiments/api-test/export' })).body
        .trim()
        .split('\n');
      expect(lines.map((l) => JSON.parse(l).kind)).toEqual([
        ...Array(3).fill('impression'),
        ...Array(events.length).fill('event'),
      ]);
      // impressions are written in the background and counted on /metrics
      const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(metrics).toMatch(/dotrank_experiment_impressions_total\{result="written"\} 3\b/);
      expect(metrics).toMatch(/dotrank_experiment_impressions_buffered 0\b/);
    } finally {
      await app.close();
      await deleteKeys(redisUrlForTests(), keyPrefix);
    }
  });
});

describe('judging', () => {
  it('pools both systems of logged queries, takes grades 0-3 into the file store, and writes qrels', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dotrank-judge-api-'));
    try {
      const judgmentsFile = join(dir, 'judgments.jsonl');
      app = await make({ ...base, judgmentsFile });
      const shown = await search('q=wing%20flow&k=3&experiment=interleave');
      const [impression] = await app.experiments.store.impressions('api-test');
      const pool = new Set([...impression!.control, ...impression!.treatment]);
      const seen: string[] = [];
      for (;;) {
        const next = (await app.inject({ method: 'GET', url: '/api/judgments/next?depth=3' })).json();
        if (!next.item) break;
        expect(next.item.query).toBe('wing flow');
        expect(next.item.text).toContain('wing');
        seen.push(next.item.docId);
        const grade = seen.length % 4;
        const res = await app.inject({
          method: 'POST',
          url: '/api/judgments',
          payload: { qid: next.item.qid, query: next.item.query, docId: next.item.docId, grade, judge: 'ann' },
        });
        expect(res.statusCode, res.body).toBe(200);
      }
      expect(new Set(seen)).toEqual(pool);
      expect(shown.results.every((r: { id: string }) => pool.has(r.id))).toBe(true);
      const qrels = (await app.inject({ method: 'GET', url: '/api/judgments/qrels' })).body.trim().split('\n');
      expect(qrels).toHaveLength(pool.size);
      expect((await readFile(judgmentsFile, 'utf8')).trim().split('\n')).toHaveLength(pool.size);
      const log = (await app.inject({ method: 'GET', url: '/api/judgments/log' })).body.trim().split('\n');
      expect(JSON.parse(log[0]!).judge).toBe('ann');
      const bad = await app.inject({
        method: 'POST',
        url: '/api/judgments',
        payload: { qid: 'q', query: 'q', docId: 'd1', grade: 7 },
      });
      expect([bad.statusCode, bad.json().field]).toEqual([400, 'grade']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("judging an eval's query set", () => {
  /** An eval output as `dotrank eval` leaves it (runs beside metrics.json) with the collection's queries and corpus. */
  async function evalOutput(root: string, name: string, corpus: boolean): Promise<void> {
    const dir = join(root, name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'metrics.json'), JSON.stringify({ version: 1, collection: { name } }));
    const run = (ranking: Record<string, string[]>, tag: string) =>
      Object.entries(ranking)
        .flatMap(([qid, ids]) => ids.map((id, i) => `${qid} Q0 ${id} ${i + 1} ${10 - i} ${tag}\n`))
        .join('');
    await writeFile(join(dir, 'bm25.run'), run({ q1: ['d1', 'd2', 'd3', 'd4'], q2: ['d5', 'd6', 'd7'] }, 'bm25'));
    await writeFile(join(dir, 'tasb.run'), run({ q1: ['d3', 'd9', 'd1'], q2: ['d6', 'd8'] }, 'tasb'));
    await writeFile(
      join(dir, 'queries.jsonl'),
      ['{"_id":"q1","text":"wing lift"}', '{"_id":"q2","text":"flow lift"}', '{"_id":"q3","text":"unjudged"}'].join(
        '\n',
      ),
    );
    if (corpus)
      await writeFile(
        join(dir, 'corpus.jsonl'),
        PASSAGES.map((p) => JSON.stringify({ _id: p.id, text: `from the eval's corpus: ${p.id}` })).join('\n'),
      );
  }

  async function makeWithEvals(evalDir: string | undefined, judgmentsFile: string): Promise<FastifyInstance> {
    const source = new FakeSource();
    await source.index(PASSAGES);
    return buildServer(
      { source, reranker: new FakeReranker(), mode: 'in-process' },
      { logger: false, deadlineMs: 500, experiments: { ...base, judgmentsFile }, ...(evalDir ? { evalDir } : {}) },
    );
  }

  /** Judges everything the pool offers (grade 1), returning `qid docid` pairs in the order offered. */
  async function judgeAll(url: string): Promise<{ pairs: string[]; texts: Map<string, string> }> {
    const pairs: string[] = [];
    const texts = new Map<string, string>();
    for (;;) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, res.body).toBe(200);
      const next = res.json();
      expect(next.source).toBe('eval');
      if (!next.item) return { pairs, texts };
      pairs.push(`${next.item.qid} ${next.item.docId}`);
      texts.set(next.item.docId, next.item.text);
      const { qid, query, docId } = next.item;
      const post = await app.inject({
        method: 'POST',
        url: '/api/judgments',
        payload: { qid, query, docId, grade: 1 },
      });
      expect(post.statusCode, post.body).toBe(200);
    }
  }

  it('pools the top-k of the BM25 and TAS-B runs per query, with the text from the eval collection, into qrels', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dotrank-judge-eval-'));
    try {
      await evalOutput(join(dir, 'evals'), 'cran', true);
      app = await makeWithEvals(join(dir, 'evals'), join(dir, 'judgments.jsonl'));
      const { pairs, texts } = await judgeAll('/api/judgments/next?eval=cran&depth=2');
      // depth 2, rank by rank over both runs: q1 d1 d3 d2 d9; q2 d5 d6 d8 (d6 once)
      expect([...pairs].sort()).toEqual(['q1 d1', 'q1 d2', 'q1 d3', 'q1 d9', 'q2 d5', 'q2 d6', 'q2 d8']);
      const q1 = pairs.filter((p) => p.startsWith('q1')).map((p) => p.split(' ')[1]);
      expect(q1).toEqual(['d1', 'd3', 'd2', 'd9']);
      expect(texts.get('d9')).toBe("from the eval's corpus: d9");
      const qrels = (await app.inject({ method: 'GET', url: '/api/judgments/qrels' })).body;
      expect(qrels.trim().split('\n').sort()).toEqual(pairs.map((p) => p.replace(' ', ' 0 ') + ' 1').sort());
      // the pool is exhausted for this eval; logged traffic is another pool
      const traffic = (await app.inject({ method: 'GET', url: '/api/judgments/next' })).json();
      expect([traffic.source, traffic.item]).toEqual(['traffic', null]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('samples N queries, falls back to the first stage for text, and refuses unknown evals and runs by field', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dotrank-judge-eval-'));
    try {
      await evalOutput(join(dir, 'evals'), 'bare', false);
      app = await makeWithEvals(join(dir, 'evals'), join(dir, 'judgments.jsonl'));
      const { pairs, texts } = await judgeAll('/api/judgments/next?eval=bare&depth=1&sample=1');
      expect(new Set(pairs.map((p) => p.split(' ')[0])).size).toBe(1);
      expect(pairs).toHaveLength(2); // the top 1 of both runs: d1 and d3, or d5 and d6
      for (const [docId, text] of texts) expect(text).toBe(PASSAGES.find((p) => p.id === docId)!.text);
      const refused = async (url: string) => {
        const res = await app.inject({ method: 'GET', url });
        return [res.statusCode, res.json().field];
      };
      expect(await refused('/api/judgments/next?eval=nope')).toEqual([404, 'eval']);
      expect(await refused('/api/judgments/next?eval=..%2Fbare')).toEqual([404, 'eval']);
      expect(await refused('/api/judgments/next?eval=bare&systems=bm25,rrf')).toEqual([400, 'systems']);
      expect(await refused('/api/judgments/next?eval=bare&sample=0')).toEqual([400, 'sample']);
      await app.close();
      app = await makeWithEvals(undefined, join(dir, 'judgments.jsonl'));
      expect(await refused('/api/judgments/next?eval=bare')).toEqual([400, 'eval']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
