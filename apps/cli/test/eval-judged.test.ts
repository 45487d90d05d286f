// #19: qrels from the Judge tab judge only part of the pool. `dotrank eval` reads them and reports, per system,
// Judged@10 and condensed (-J) measures that equal `dotrank measure -J` (parity-tested against trec_eval 9) on the
// very run files it wrote, so TAS-B's unjudged documents are not counted as misses.
import { mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tinyModelDir } from '@dotrank/core/testing';
import { readQrels, readRun } from '@dotrank/datasets';
import { FileJudgmentStore, parseJudgment } from '@dotrank/experiments';
import { collectionSlice, dotrank, SPAWN_TIMEOUT } from './cli.js';

const env = { REDIS_URL: undefined, ELASTICSEARCH_URL: undefined, DOTRANK_DOC_SCORE: undefined };
/** How deep the Judge tab pooled: the top 5 of BM25 only, so Judged@10 of BM25 is 0.5 and TAS-B's is what it is. */
const JUDGED_DEPTH = 5;

interface Report {
  measures: string[];
  systems: Record<string, { aggregate: Record<string, number>; perQuery: Record<string, Record<string, number>> }>;
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dotrank-eval-judged-'));
  await collectionSlice('cranfield', join(dir, 'full'), 4);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Grades as a judge would give them in the Judge tab: the collection's own (clamped to 0-3), 0 when not in them. */
async function judgeTopOfBm25(): Promise<string> {
  const first = await dotrank(
    ['eval', '--collection', join(dir, 'full'), '--systems', 'bm25', '--depth', '20', '--no-progress'].concat([
      '--index-dir',
      join(dir, 'index'),
      '--out',
      join(dir, 'first'),
    ]),
    { env },
  );
  expect(first, first.stderr).toMatchObject({ code: 0 });
  const bm25 = await readRun(join(dir, 'first', 'bm25.run'));
  const truth = await readQrels(join(dir, 'full', 'qrels', 'test.tsv'));
  const queries = (await readFile(join(dir, 'full', 'queries.jsonl'), 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { _id: string; text: string });
  const file = join(dir, 'judgments.jsonl');
  const store = new FileJudgmentStore(file);
  for (const q of queries)
    for (const entry of (bm25.get(q._id) ?? []).slice(0, JUDGED_DEPTH))
      await store.append(
        parseJudgment({
          qid: q._id,
          query: q.text,
          docId: entry.docId,
          grade: Math.min(3, Math.max(0, truth.get(q._id)?.get(entry.docId) ?? 0)),
          judge: 'test',
        }),
      );
  return file;
}

describe('dotrank eval on qrels from the Judge tab', () => {
  it(
    'reads the exported qrels and reports Judged@10 and condensed measures equal to dotrank measure -J',
    async () => {
      const judgments = await judgeTopOfBm25();
      const judged = join(dir, 'judged');
      await mkdir(join(judged, 'qrels'), { recursive: true });
      const exported = await dotrank(
        ['judgments', 'export', '--file', judgments, '-o', join(judged, 'qrels', 'judge.trec')].concat([
          '--queries',
          join(judged, 'queries.jsonl'),
        ]),
        { env },
      );
      expect(exported, exported.stderr).toMatchObject({ code: 0 });
      // the judged collection shares the slice's corpus
      await symlink(join(dir, 'full', 'corpus.jsonl'), join(judged, 'corpus.jsonl'));

      const out = join(dir, 'out');
      const evaluated = await dotrank(
        ['eval', '--collection', judged, '--model', tinyModelDir(), '--systems', 'bm25,tasb', '--depth', '20'].concat([
          '--index-dir',
          join(dir, 'index'),
          '--out',
          out,
          '--cache',
          'memory',
          '--json',
          '--no-progress',
        ]),
        { env },
      );
      expect(evaluated, evaluated.stderr).toMatchObject({ code: 0 });
      const report = JSON.parse(evaluated.stdout) as Report;
      expect(report.measures).toEqual(expect.arrayContaining(['Judged@10', 'ndcg_cut_10_J', 'map_J']));
      expect(report.systems['bm25']!.aggregate['Judged@10']).toBe(JUDGED_DEPTH / 10);
      // TAS-B reorders BM25's candidates: some of its top 10 were never judged
      expect(report.systems['tasb']!.aggregate['Judged@10']).toBeLessThan(1);

      for (const system of ['bm25', 'tasb']) {
        const run = join(out, `${system}.run`);
        const qrels = join(out, 'qrels.trec');
        const [condensed, coverage] = await Promise.all([
          dotrank(['measure', '-J', '-c', '--json', '-m', 'ndcg_cut.10,map', qrels, run], { env }),
          dotrank(['measure', '-c', '-q', '--json', '-m', 'Judged@10', qrels, run], { env }),
        ]);
        expect(condensed, condensed.stderr).toMatchObject({ code: 0 });
        const J = (JSON.parse(condensed.stdout) as { aggregate: Record<string, number> }).aggregate;
        const aggregate = report.systems[system]!.aggregate;
        expect(aggregate['ndcg_cut_10_J']).toBe(J['ndcg_cut_10']);
        expect(aggregate['map_J']).toBe(J['map']);
        expect(aggregate['Judged@10']).toBe(
          (JSON.parse(coverage.stdout) as { aggregate: Record<string, number> }).aggregate['Judged@10'],
        );
        // removing unjudged documents only moves judged ones up: condensed nDCG@10 is never below the usual one
        for (const values of Object.values(report.systems[system]!.perQuery))
          expect(values['ndcg_cut_10_J']).toBeGreaterThanOrEqual(values['ndcg_cut_10']! - 1e-12);
      }
      // the human-readable table shows the block too
      const table = await dotrank(
        ['eval', '--collection', judged, '--systems', 'bm25', '--depth', '20', '--no-progress'].concat([
          '--index-dir',
          join(dir, 'index'),
          '--out',
          join(dir, 'table'),
        ]),
        { env },
      );
      expect(table.stdout).toMatch(/^judged-only\s+Judged@10\s+nDCG@10 -J\s+MAP -J$/m);
      expect(table.stdout).toMatch(/^bm25\s+0\.5000\s/m);
    },
    SPAWN_TIMEOUT * 2,
  );
});
