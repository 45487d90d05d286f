// `dotrank experiment export|report` over a real Redis (own key prefix), `dotrank judgments export` over a file.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Command } from 'commander';
import { deleteKeysWithPrefix, redisUrlForTests, uniquePrefix } from '@dotrank/core/testing';
import { RedisExperimentStore, analyzeExperiment } from '@dotrank/experiments';
import type { ExperimentEvent, Impression } from '@dotrank/experiments';
import { runCli } from '../src/run.js';
import type { CliResult } from './cli.js';

/** Runs the CLI in this process (a spawn through tsx costs many seconds) with `env` set for the run. */
async function dotrank(args: string[], options: { env: Record<string, string> }): Promise<CliResult> {
  const saved = Object.fromEntries(Object.keys(options.env).map((k) => [k, process.env[k]]));
  const written = { stdout: '', stderr: '' };
  const capture = (stream: 'stdout' | 'stderr') =>
    vi.spyOn(process[stream], 'write').mockImplementation((chunk) => {
      written[stream] += String(chunk);
      return true;
    });
  const spies = [capture('stdout'), capture('stderr')];
  const exitCode = process.exitCode;
  Object.assign(process.env, options.env);
  try {
    process.exitCode = 0;
    await runCli(['node', 'dotrank', ...args], new Command(), process.env);
    return { code: Number(process.exitCode ?? 0), ...written };
  } finally {
    process.exitCode = exitCode;
    for (const spy of spies) spy.mockRestore();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

const keyPrefix = uniquePrefix('cli-experiment');
const redis = new Redis(redisUrlForTests(), { maxRetriesPerRequest: 1 });
let dir: string;

const impressions: Impression[] = Array.from({ length: 6 }, (_, i) => ({
  impressionId: `imp-${i}`,
  experiment: 'cli',
  mode: 'interleave',
  query: i % 2 ? 'wing' : 'flow',
  control: ['a', 'b'],
  treatment: ['c', 'a'],
  shown: [
    { docId: i % 3 ? 'a' : 'c', system: i % 3 ? 'bm25' : 'tasb' },
    { docId: i % 3 ? 'c' : 'a', system: i % 3 ? 'tasb' : 'bm25' },
    { docId: 'b', system: 'bm25' },
  ],
  time: Date.now(),
}));
const events: ExperimentEvent[] = [0, 1, 2, 4].map((i) => ({
  eventId: `ev-${i}`,
  experiment: 'cli',
  impressionId: `imp-${i}`,
  type: 'click',
  docId: impressions[i]!.shown[0]!.docId,
  timestamp: Date.now(),
}));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dotrank-cli-experiment-'));
  const store = new RedisExperimentStore(redis, { keyPrefix, maxEvents: 1000, retentionDays: 1 });
  for (const impression of impressions) await store.recordImpression(impression);
  await store.recordEvents(events);
});
afterAll(async () => {
  await deleteKeysWithPrefix(redis, keyPrefix);
  redis.disconnect();
  await rm(dir, { recursive: true, force: true });
});

describe('dotrank experiment / judgments', () => {
  it('report --json equals the analysis of what is logged; export writes it as JSON lines; judgments export writes qrels', async () => {
    const env = { REDIS_URL: redisUrlForTests(), DOTRANK_KEY_PREFIX: keyPrefix, DOTRANK_EXPERIMENT_NAME: 'cli' };
    const judgments = join(dir, 'judgments.jsonl');
    await writeFile(
      judgments,
      [
        { qid: 't1', query: 'wing', docId: 'a', grade: 3, judge: 'ann', time: 1 },
        { qid: 't1', query: 'wing', docId: 'a', grade: 2, judge: 'bob', time: 2 },
        { qid: 't0', query: 'flow', docId: 'c', grade: 0, judge: 'ann', time: 3 },
      ]
        .map((j) => JSON.stringify(j))
        .join('\n'),
    );
    const qrels = join(dir, 'qrels.txt');
    const report = await dotrank(['experiment', 'report', '--out', join(dir, 'report.json')], { env });
    const exported = await dotrank(['experiment', 'export', '--out', join(dir, 'log.jsonl')], { env });
    const queries = join(dir, 'q.jsonl');
    const judged = await dotrank(['judgments', 'export', '--file', judgments, '--out', qrels, '--queries', queries], {
      env,
    });
    const noRedis = await dotrank(['experiment', 'report'], { env: { REDIS_URL: '' } });
    expect(report.code, report.stderr).toBe(0);
    const expected = analyzeExperiment(impressions, events, { name: 'cli', mode: 'interleave' });
    expect(JSON.parse(await readFile(join(dir, 'report.json'), 'utf8'))).toEqual(expected);
    // by hand: the first shown result is TAS-B's in impression 0 only -> 1 win, 3 losses
    expect(expected).toMatchObject({ wins: 1, losses: 3, ties: 0, impressionsWithClicks: 4 });
    expect(exported.code, exported.stderr).toBe(0);
    const lines = (await readFile(join(dir, 'log.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.kind === 'impression')).toHaveLength(6);
    expect(lines.filter((l) => l.kind === 'event').map((l) => l.eventId)).toEqual(['ev-0', 'ev-1', 'ev-2', 'ev-4']);
    expect(judged.code, judged.stderr).toBe(0);
    expect(await readFile(qrels, 'utf8')).toBe('t0 0 c 0\nt1 0 a 2\n');
    expect((await readFile(`${qrels}.log.jsonl`, 'utf8')).trim().split('\n')).toHaveLength(3);
    expect(await readFile(join(dir, 'q.jsonl'), 'utf8')).toContain('"_id":"t1"');
    expect(noRedis.code).not.toBe(0);
    expect(noRedis.stderr).toContain('REDIS_URL');
    expect(noRedis.stderr).toContain('REDIS_URL');
  });
});
