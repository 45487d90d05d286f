import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { isDotrankError } from '@dotrank/core';
import { deleteKeysWithPrefix, redisUrlForTests, uniquePrefix } from '@dotrank/core/testing';
import { readQrels } from '@dotrank/datasets';
import {
  FileJudgmentStore,
  RedisJudgmentStore,
  formatJudgmentLog,
  formatQrels,
  nextToJudge,
  parseJudgment,
  queryIdOf,
} from '../src/judgments.js';
import type { Judgment } from '../src/judgments.js';
import type { Impression } from '../src/types.js';

const dirs: string[] = [];
const redis = new Redis(redisUrlForTests(), { maxRetriesPerRequest: 1 });
const prefix = uniquePrefix('judgments');
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  await deleteKeysWithPrefix(redis, prefix);
  redis.disconnect();
});

const judgment = (qid: string, docId: string, grade: number, time = 1): Judgment => ({
  qid,
  query: `query ${qid}`,
  docId,
  grade,
  judge: 'ann',
  time,
});

describe('judgments', () => {
  it('parse: grade 0-3 and ids without spaces, naming the field', () => {
    const field = (raw: unknown) => {
      try {
        parseJudgment(raw);
      } catch (error) {
        if (isDotrankError(error)) return (error as { field?: string }).field;
      }
      return undefined;
    };
    const ok = { qid: 'q1', query: 'wing flutter', docId: 'd1', grade: 2 };
    expect(parseJudgment(ok, 5)).toEqual({ ...ok, judge: 'anonymous', time: 5 });
    expect(field({ ...ok, grade: 4 })).toBe('grade');
    expect(field({ ...ok, grade: 1.5 })).toBe('grade');
    expect(field({ ...ok, docId: 'a b' })).toBe('docId');
    expect(field({ ...ok, qid: undefined })).toBe('qid');
    expect(field({ ...ok, query: ' ' })).toBe('query');
  });

  it('qrels: the last grade per pair, sorted, readable by the datasets reader; the log keeps every grade', async () => {
    const all = [judgment('q2', 'b', 1), judgment('q1', 'z', 3), judgment('q1', 'a', 0), judgment('q2', 'b', 2, 9)];
    const qrels = formatQrels(all);
    expect(qrels).toBe('q1 0 a 0\nq1 0 z 3\nq2 0 b 2\n');
    const dir = await mkdtemp(join(tmpdir(), 'dotrank-judgments-'));
    dirs.push(dir);
    await writeFile(join(dir, 'qrels.txt'), qrels);
    const read = await readQrels(join(dir, 'qrels.txt'));
    expect(read.get('q2')?.get('b')).toBe(2);
    expect(formatJudgmentLog(all).trim().split('\n')).toHaveLength(4);
    expect(JSON.parse(formatJudgmentLog(all).split('\n')[3]!).time).toBe(new Date(9).toISOString());
  });

  it.each([
    ['file', async () => new FileJudgmentStore(join(await mkdtemp(join(tmpdir(), 'dotrank-j-')), 'sub', 'j.jsonl'))],
    ['redis', async () => new RedisJudgmentStore(redis, { keyPrefix: `${prefix}-${Math.random()}` })],
  ])('%s store appends and lists in order', async (_kind, make) => {
    const store = await make();
    if (store instanceof FileJudgmentStore) dirs.push(join(store.path, '..', '..'));
    expect(await store.list()).toEqual([]);
    await store.append(judgment('q1', 'a', 1));
    await store.append(judgment('q1', 'b', 3));
    expect((await store.list()).map((j) => j.docId)).toEqual(['a', 'b']);
  });

  it('pools both systems top-k per logged query, alternating, and skips what is judged', () => {
    const impression = (query: string, control: string[], treatment: string[]): Impression => ({
      impressionId: query,
      experiment: 'e',
      mode: 'interleave',
      query,
      control,
      treatment,
      shown: [],
      time: 0,
    });
    const logged = [impression('wing', ['a', 'b', 'c'], ['c', 'd', 'a'])];
    const qid = queryIdOf('wing');
    expect(nextToJudge(logged, [], { depth: 2 })).toEqual({ qid, query: 'wing', docId: 'a', remaining: 4 });
    const judged = [judgment(qid, 'a', 1), judgment(qid, 'c', 2)];
    expect(nextToJudge(logged, judged, { depth: 2 })).toEqual({ qid, query: 'wing', docId: 'b', remaining: 2 });
    const all = ['a', 'b', 'c', 'd'].map((d) => judgment(qid, d, 0));
    expect(nextToJudge(logged, all, { depth: 2 })).toBeUndefined();
  });

  it("pools an eval's query set by its own query ids, and samples the first N queries of the seeded order", () => {
    const queries = ['lift', 'drag', 'wing', 'flap', 'stall'].map((query, i) => ({
      qid: `q${i + 1}`,
      query,
      rankings: [
        ['a', 'b', 'c'],
        ['b', 'd', 'e'],
      ],
    }));
    const first = nextToJudge({ queries }, [], { depth: 2 })!;
    expect(first).toMatchObject({ docId: 'a', remaining: 3 });
    expect(queries.map((q) => q.qid)).toContain(first.qid);
    expect(first.query).toBe(queries.find((q) => q.qid === first.qid)!.query);
    // judging walks the pool rank by rank, both systems alike: a, b (both), d; c and e lie deeper than 2
    const order: string[] = [];
    const given: Judgment[] = [];
    for (let item = nextToJudge({ queries }, given, { depth: 2, sample: 2 }); item;) {
      order.push(`${item.qid}:${item.docId}`);
      given.push(judgment(item.qid, item.docId, 1));
      item = nextToJudge({ queries }, given, { depth: 2, sample: 2 });
    }
    expect(order).toHaveLength(6); // 2 sampled queries x 3 pooled documents
    const sampled = [...new Set(order.map((o) => o.split(':')[0]))];
    expect(sampled).toHaveLength(2);
    expect(sampled[0]).toBe(first.qid);
    expect(order.slice(0, 3).map((o) => o.split(':')[1])).toEqual(['a', 'b', 'd']);
    // another seed, another order of the same queries
    const orders = [1, 2, 3, 4, 5].map((seed) => nextToJudge({ queries }, [], { depth: 2, seed })!.qid);
    expect(new Set(orders).size).toBeGreaterThan(1);
  });
});

describe('judged qrels in evaluation (judged@10 and condensed measures, as trec_eval -J)', () => {
  it('qrels judged from one system do not count the other system unjudged documents as misses', async () => {
    const { evaluate } = await import('@dotrank/eval');
    // judgments pooled from the first system's top 3 only: a relevant, b not, c relevant
    const judged = [judgment('q1', 'a', 2), judgment('q1', 'b', 0), judgment('q1', 'c', 3)];
    const dir = await mkdtemp(join(tmpdir(), 'dotrank-judged-eval-'));
    dirs.push(dir);
    await writeFile(join(dir, 'judged.qrels'), formatQrels(judged));
    const qrels = await readQrels(join(dir, 'judged.qrels'));
    const run = (ids: string[]) => new Map([['q1', ids.map((docId, i) => ({ docId, score: 10 - i }))]]);
    const other = run(['x', 'c', 'y', 'a']); // two documents nobody judged
    const measures = ['Judged@10', 'ndcg_cut_10'];
    const plain = evaluate(qrels, other, { measures });
    const condensed = evaluate(qrels, other, { measures, judgedOnly: true });
    expect(plain.aggregate['Judged@10']).toBeCloseTo(0.5, 12); // 2 of the 4 retrieved (of the top 10) are judged
    // condensed: x and y removed, c and a at ranks 1 and 2 -> the ideal order, nDCG 1
    expect(condensed.aggregate['ndcg_cut_10']).toBeCloseTo(1, 12);
    expect(plain.aggregate['ndcg_cut_10']!).toBeLessThan(condensed.aggregate['ndcg_cut_10']!);
  });
});
