import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmbeddedSource } from '@dotrank/bm25';
import { repoPath } from '@dotrank/core/testing';
import { readCorpus, readQueries, writeRun } from '@dotrank/datasets';
import { dotrank, SPAWN_TIMEOUT } from './cli.js';

let dir: string;
let qrels: string;
let run: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dotrank-measure-'));
  // q1: relevant d1 d3 d5 (d9 judged non-relevant); q2: relevant a; q3: judged only in the qrels, absent from the run
  qrels = join(dir, 'qrels.txt');
  await writeFile(qrels, '1 0 d1 1\n1 0 d3 1\n1 0 d5 1\n1 0 d9 0\n2 0 a 1\n3 0 x 2\n');
  run = join(dir, 'run.txt');
  // q2: the rank column claims "a" is first, but c scores higher and b ties a and wins on docid -> a is third
  await writeFile(
    run,
    '1 Q0 d1 1 3 t\n1 Q0 d2 2 2.5 t\n1 Q0 d3 3 2 t\n1 Q0 d4 4 1.5 t\n1 Q0 d9 5 1 t\n2 Q0 a 1 1 t\n2 Q0 b 2 1 t\n2 Q0 c 3 2 t\n',
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('dotrank measure', () => {
  it(
    'prints trec_eval lines, per query with -q, averaged over queries in both files',
    async () => {
      const { code, stdout } = await dotrank([
        'measure',
        qrels,
        run,
        '-m',
        'map,recip_rank',
        '-m',
        'P.5',
        '--per-query',
      ]);
      expect(code).toBe(0);
      // q1: AP (1 + 2/3)/3 = 0.5556, RR 1, P@5 2/5; q2: a at rank 3 -> AP 1/3, RR 1/3, P@5 1/5
      expect(stdout).toBe(
        [
          'map                   \t1\t0.5556',
          'recip_rank            \t1\t1.0000',
          'P_5                   \t1\t0.4000',
          'map                   \t2\t0.3333',
          'recip_rank            \t2\t0.3333',
          'P_5                   \t2\t0.2000',
          'map                   \tall\t0.4444', // (5/9 + 1/3) / 2
          'recip_rank            \tall\t0.6667', // (1 + 1/3) / 2
          'P_5                   \tall\t0.3000',
          '',
        ].join('\n'),
      );
    },
    SPAWN_TIMEOUT,
  );

  it(
    'prints JSON; --all-queries counts the missing query 3 as 0',
    async () => {
      const { code, stdout } = await dotrank([
        'measure',
        qrels,
        run,
        '--measures',
        'MAP,num_q,num_rel',
        '--all-queries',
        '--json',
      ]);
      expect(code).toBe(0);
      const out = JSON.parse(stdout) as { measures: string[]; numQueries: number; aggregate: Record<string, number> };
      expect(out.measures).toEqual(['MAP', 'num_q', 'num_rel']); // printed as the user named them
      expect(out.numQueries).toBe(3);
      expect(out.aggregate['MAP']).toBeCloseTo((5 / 9 + 1 / 3) / 3, 12);
      expect(out.aggregate['num_rel']).toBe(5); // 3 + 1 + 1
    },
    SPAWN_TIMEOUT,
  );

  it(
    'keeps trec_eval flags (-J, -M, -l, -q) and takes ir_measures names and presets, printed as named',
    async () => {
      const [judged, irNames, preset] = await Promise.all([
        // -J: q1's unjudged d2 and d4 go, the condensed ranking is d1 d3 d9 -> P@2 = 1
        dotrank(['measure', qrels, run, '-J', '-m', 'P.2,num_ret']),
        dotrank(['measure', qrels, run, '-m', 'AP,nDCG@5', '-m', 'Judged@5,Success@1,Bpref', '-M', '4']),
        dotrank(['measure', qrels, run, '--preset', 'trec-dl', '-l', '1']),
      ]);
      expect(judged.code).toBe(0);
      expect(judged.stdout).toBe(
        ['P_2                   \tall\t0.7500', 'num_ret               \tall\t4', ''].join('\n'),
      );
      expect(irNames.code).toBe(0);
      // -M 4: q1 d1 d2 d3 d4 (judged d1 d3: 2/4), q2 c b a (a judged: 1/3); Success@1: q1 yes, q2 no
      expect(irNames.stdout).toContain('Judged@5              \tall\t0.4167\n'); // (2/4 + 1/3) / 2
      expect(irNames.stdout).toContain('Success@1             \tall\t0.5000\n');
      expect(irNames.stdout).toMatch(/^AP {20}\tall\t0\.\d{4}\nnDCG@5 {16}\tall/);
      expect(preset.code).toBe(0);
      expect(preset.stdout.split('\n').map((l) => l.split('\t')[0]!.trim())).toEqual([
        'nDCG@10',
        'AP(rel=2)',
        'R(rel=2)@1000',
        '',
      ]);
    },
    SPAWN_TIMEOUT,
  );

  it(
    'reports bad input in one line naming the file and line, exit code 2',
    async () => {
      const bad = join(dir, 'bad.run');
      await writeFile(bad, '1 Q0 d1 1 3 t\n1 Q0 d1 2 2 t\n');
      const [dup, level, measure] = await Promise.all([
        dotrank(['measure', qrels, bad]),
        dotrank(['measure', qrels, run, '--level', 'two']),
        dotrank(['measure', qrels, run, '-m', 'gm_map']),
      ]);
      expect(dup.code).toBe(2);
      expect(dup.stderr.trim()).toBe(`dotrank: ${bad}:2: duplicate document d1 for query 1 (first on line 1)`);
      expect(level.code).toBe(2);
      expect(level.stderr).toContain('--level: must be an integer >= 0, got "two"');
      expect(measure.code).toBe(2);
      expect(measure.stderr).toContain('measures: unknown measure "gm_map"; valid forms: trec_eval names: map');
    },
    SPAWN_TIMEOUT,
  );
});

describe('dotrank measure on the real Cranfield collection', () => {
  it(
    'reproduces the trec_eval 9.0.8 -c figures of datasets/cranfield/README.md for an embedded BM25 run',
    async () => {
      const root = repoPath('datasets/cranfield');
      // the run comes from the embedded Lucene-exact BM25 engine (top 1000, passage = title + " " + text)
      const source = await createEmbeddedSource();
      await source.index(readCorpus(root));
      const run = new Map<string, { docId: string; score: number }[]>();
      for (const query of await readQueries(root)) {
        run.set(
          query.id,
          (await source.search(query.text, { k: 1000 })).map((c) => ({ docId: c.id, score: c.score })),
        );
      }
      await source.close();
      const runFile = join(dir, 'cranfield-bm25.run');
      await writeRun(runFile, run, 'bm25');
      const qrelsFile = join(root, 'qrels', 'test.trec');
      const [main, level2] = await Promise.all([
        dotrank(['measure', qrelsFile, runFile, '-c', '-m', 'ndcg_cut.10,recip_rank,P.10,recall.100,map']),
        dotrank(['measure', qrelsFile, runFile, '-c', '-l', '2', '-m', 'map,recip_rank']),
      ]);
      expect(main.code).toBe(0);
      // expected values: datasets/cranfield/README.md (real Lucene 8.8 BM25 + trec_eval 9.0.8 -c)
      expect(main.stdout).toBe(
        [
          'ndcg_cut_10           \tall\t0.3341',
          'recip_rank            \tall\t0.5018',
          'P_10                  \tall\t0.2164',
          'recall_100            \tall\t0.6970',
          'map                   \tall\t0.2682',
          '',
        ].join('\n'),
      );
      expect(level2.stdout).toBe(
        ['map                   \tall\t0.2537', 'recip_rank            \tall\t0.4596', ''].join('\n'),
      );
    },
    SPAWN_TIMEOUT,
  );
});
