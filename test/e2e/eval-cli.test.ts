import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findRepoRoot } from '@dotrank/core';
import { repoPath, tinyModelDir } from '@dotrank/core/testing';
import { metricsReportSchema } from '@dotrank/eval';
import type { MetricsReport } from '@dotrank/eval';

const run = promisify(execFile);
const repo = findRepoRoot(import.meta.dirname)!;
const cli = join(repo, 'apps', 'cli', 'bin', 'dotrank.js');

/** The reference BM25 figures of the collection's README (real Lucene + trec_eval), read rather than copied. */
async function readmeFigures(dir: string): Promise<Record<string, number>> {
  const text = await readFile(join(dir, 'README.md'), 'utf8');
  const figures: Record<string, number> = {};
  for (const m of text.matchAll(/^\|\s*([^|]+?)\s*\|\s*(0\.\d{4})\s*\|$/gm)) figures[m[1]!] = Number(m[2]);
  return figures;
}

describe('dotrank eval on Cranfield with the fixture model', () => {
  const dir = repoPath('datasets/cranfield');
  let work: string;
  let report: MetricsReport;
  let stdout: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'dotrank-eval-'));
    const result = await run(
      process.execPath,
      [
        cli,
        'eval',
        '--collection',
        dir,
        '--out',
        join(work, 'out'),
        '--index-dir',
        join(work, 'index'),
        '--model',
        tinyModelDir(),
        '--depth',
        '100',
        '--cache',
        'memory',
        '--no-progress',
      ],
      { cwd: repo, env: { ...process.env, REDIS_URL: '', ELASTICSEARCH_URL: '' }, maxBuffer: 16 << 20 },
    );
    stdout = result.stdout;
    report = metricsReportSchema.parse(JSON.parse(await readFile(join(work, 'out', 'metrics.json'), 'utf8')));
  }, 600_000);

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('reproduces the README reference BM25 figures (Lucene 8 + trec_eval -c) to the fourth decimal', async () => {
    const reference = await readmeFigures(dir);
    expect(reference['nDCG@10 (`ndcg_cut.10`)']).toBeTypeOf('number');
    const bm25 = report.systems['bm25']!.aggregate;
    expect(bm25['ndcg_cut_10']!.toFixed(4)).toBe(reference['nDCG@10 (`ndcg_cut.10`)']!.toFixed(4));
    expect(bm25['recall_100']!.toFixed(4)).toBe(reference['Recall@100']!.toFixed(4));
    // (MRR, MAP and deeper recall need the README's depth of 1000; this run stops at 100 to stay quick)
  });

  it('writes every system run, with significance against BM25 and per-query values', async () => {
    expect(Object.keys(report.systems).sort()).toEqual(['bm25', 'interpolate', 'rrf', 'tasb']);
    expect(report.collection).toEqual({ name: 'cranfield', queries: 225, documents: 1400 });
    expect(report.model?.id).toBeTruthy();
    for (const system of ['tasb', 'interpolate', 'rrf']) {
      const sys = report.systems[system]!;
      expect(Object.keys(sys.perQuery)).toHaveLength(225);
      const sig = sys.significance!['ndcg_cut_10']!;
      expect(sig.wins + sig.ties + sig.losses).toBe(225);
      expect(sig.delta).toBeCloseTo(
        sys.aggregate['ndcg_cut_10']! - report.systems['bm25']!.aggregate['ndcg_cut_10']!,
        10,
      );
      expect((await stat(join(work, 'out', `${system}.run`))).size).toBeGreaterThan(0);
    }
    expect(report.systems['bm25']!.significance).toBeUndefined();
    expect(report.firstStageRecall['bm25']!.depths.at(-1)).toBe(100);
    expect(stdout).toMatch(/^bm25\s+0\.\d{4}/m);
  });

  it('agrees with `dotrank measure` run on the written files', async () => {
    const { stdout: lines } = await run(
      process.execPath,
      [cli, 'measure', join(work, 'out', 'qrels.trec'), join(work, 'out', 'tasb.run'), '-m', 'ndcg_cut.10', '-c'],
      { cwd: repo },
    );
    const value = Number(/ndcg_cut_10\s+all\s+([\d.]+)/.exec(lines)?.[1]);
    expect(value.toFixed(4)).toBe(report.systems['tasb']!.aggregate['ndcg_cut_10']!.toFixed(4));
  });

  it('compares dense and hybrid first stages, with the recall of each and the rerankers on top of each', async () => {
    await run(
      process.execPath,
      [
        cli,
        'eval',
        '--collection',
        dir,
        '--out',
        join(work, 'out-fs'),
        '--index-dir',
        join(work, 'index'),
        '--model',
        tinyModelDir(),
        '--depth',
        '100',
        '--first-stage',
        'bm25,dense,hybrid',
        '--systems',
        'tasb',
        '--cache',
        'memory',
        '--no-progress',
      ],
      { cwd: repo, env: { ...process.env, REDIS_URL: '', ELASTICSEARCH_URL: '' }, maxBuffer: 16 << 20 },
    );
    const fs = metricsReportSchema.parse(JSON.parse(await readFile(join(work, 'out-fs', 'metrics.json'), 'utf8')));
    expect(Object.keys(fs.systems).sort()).toEqual(['bm25', 'dense', 'dense-tasb', 'hybrid', 'hybrid-tasb', 'tasb']);
    expect(Object.keys(fs.firstStageRecall).sort()).toEqual(['bm25', 'dense', 'hybrid']);
    for (const stage of ['bm25', 'dense', 'hybrid']) {
      const curve = fs.firstStageRecall[stage]!;
      expect(curve.recall.at(-1)).toBeCloseTo(fs.systems[stage]!.aggregate['recall_100']!, 12);
      // recall can only grow with depth
      for (let i = 1; i < curve.recall.length; i++)
        expect(curve.recall[i]!).toBeGreaterThanOrEqual(curve.recall[i - 1]!);
    }
    // reranking the dense candidates with the same model and scores as the dense search keeps its order exactly
    expect(fs.systems['dense-tasb']!.aggregate['ndcg_cut_10']).toBeCloseTo(
      fs.systems['dense']!.aggregate['ndcg_cut_10']!,
      6,
    );
    // the BM25 figures do not depend on which other first stages run beside it
    expect(fs.systems['bm25']!.aggregate).toEqual(report.systems['bm25']!.aggregate);

    // `dotrank search --first-stage dense` reuses that dense index and ranks as the eval's dense run did
    const firstQuery = JSON.parse((await readFile(join(dir, 'queries.jsonl'), 'utf8')).split('\n')[0]!) as {
      _id: string;
      text: string;
    };
    const searched = await run(
      process.execPath,
      [
        cli,
        'search',
        firstQuery.text,
        '--k',
        '5',
        '--json',
        '--index-dir',
        join(work, 'index'),
        '--first-stage',
        'dense',
        '--model',
        tinyModelDir(),
      ],
      { cwd: repo },
    );
    const ids = (JSON.parse(searched.stdout) as { id: string }[]).map((r) => r.id);
    const runLines = (await readFile(join(work, 'out-fs', 'dense.run'), 'utf8'))
      .split('\n')
      .filter((l) => l.startsWith(`${firstQuery._id} `));
    expect(ids).toEqual(runLines.slice(0, 5).map((l) => l.split(' ')[2]));
  }, 600_000);

  it('reuses the index on a second run and fails clearly without a model for neural systems', async () => {
    const second = await run(
      process.execPath,
      [
        cli,
        'eval',
        '--collection',
        dir,
        '--out',
        join(work, 'out2'),
        '--index-dir',
        join(work, 'index'),
        '--systems',
        'bm25',
        '--depth',
        '100',
        '--no-progress',
      ],
      {
        cwd: repo,
        env: { ...process.env, REDIS_URL: '', ELASTICSEARCH_URL: '' },
      },
    );
    expect(second.stderr).toMatch(/reusing the index/);
    const failed = await run(
      process.execPath,
      [cli, 'eval', '--collection', dir, '--out', join(work, 'out3'), '--systems', 'tasb'],
      {
        cwd: repo,
        env: { ...process.env, DOTRANK_MODEL: '', REDIS_URL: '' },
      },
    ).catch((error: { code: number; stderr: string }) => error);
    expect(failed).toMatchObject({ code: 2 });
    expect((failed as { stderr: string }).stderr).toMatch(/--model: is required/);
  });
});
