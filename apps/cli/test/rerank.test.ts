import { mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tinyModelDir } from '@dotrank/core/testing';
import { collectionSlice, dotrank, SPAWN_TIMEOUT } from './cli.js';

// A small slice of Cranfield (its first 12 queries, every passage) keeps the model work short.
let dir: string;
let collection: string;
const env = { REDIS_URL: undefined, ELASTICSEARCH_URL: undefined };
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dotrank-rerank-'));
  collection = join(dir, 'mini');
  await collectionSlice('cranfield', collection, 12);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('dotrank rerank --run', () => {
  it(
    'gives the run dotrank eval gives for TAS-B on the same BM25 candidates, and resumes an interrupted output',
    async () => {
      const evalOut = join(dir, 'eval');
      const model = tinyModelDir();
      const evaluation = await dotrank(
        ['eval', '--collection', collection, '--systems', 'bm25,tasb', '--depth', '10', '--model', model].concat([
          '--index-dir',
          join(dir, 'index'),
          '--out',
          evalOut,
          '--cache',
          'memory',
          '--no-progress',
        ]),
        { env },
      );
      expect(evaluation, evaluation.stderr).toMatchObject({ code: 0 });
      const expected = await readFile(join(evalOut, 'tasb.run'), 'utf8');
      const out = join(dir, 'tasb.run');
      const args = ['rerank', '--run', join(evalOut, 'bm25.run'), '--collection', collection, '--model', model];
      const first = await dotrank([...args, '--out', out, '--no-progress'], { env });
      expect(first, first.stderr).toMatchObject({ code: 0 });
      expect(first.stderr).toMatch(/reranked 12 queries \(0 already done\)/);
      expect(await readFile(out, 'utf8')).toBe(expected);

      // an interruption mid-line: the complete queries are kept, the cut one and the rest are redone
      await truncate(out, Math.floor((await stat(out)).size * 0.6));
      const resumed = await dotrank([...args, '--out', out, '--no-progress'], { env });
      expect(resumed, resumed.stderr).toMatchObject({ code: 0 });
      expect(resumed.stderr).toMatch(/resuming: [1-9]\d? queries already in/);
      expect(await readFile(out, 'utf8')).toBe(expected);
    },
    SPAWN_TIMEOUT,
  );

  it(
    'reranks an MS MARCO top1000 file streamed query by query, and names what is wrong with bad input',
    async () => {
      const top1000 = join(dir, 'top1000.dev.tsv');
      const rows = [
        ['1', '184', 'what similarity laws must be obeyed', 'experimental investigation of the aerodynamics of a wing'],
        ['1', '29', 'what similarity laws must be obeyed', 'similarity laws for aerothermoelastic testing'],
        ['1', '13', 'what similarity laws must be obeyed', ' '],
        [
          '2',
          '12',
          'what are the structural and aeroelastic problems',
          'some structural and aerelastic considerations',
        ],
      ];
      await writeFile(top1000, `${rows.map((r) => r.join('\t')).join('\n')}\n`);
      const shuffled = join(dir, 'shuffled.tsv');
      await writeFile(shuffled, `${[rows[0], rows[3], rows[1]].map((r) => r!.join('\t')).join('\n')}\n`);
      const model = tinyModelDir();
      const [ok, unsorted, noCollection] = await Promise.all([
        dotrank(['rerank', '--run', top1000, '--model', model, '--out', join(dir, 'msmarco.run'), '--fusion', 'rrf'], {
          env,
        }),
        dotrank(['rerank', '--run', shuffled, '--model', model, '--out', join(dir, 'x.run')], { env }),
        dotrank(['rerank', '--run', join(dir, 'eval', 'bm25.run'), '--model', model, '--out', join(dir, 'y.run')], {
          env,
        }),
      ]);
      expect(ok.code).toBe(0);
      const lines = (await readFile(join(dir, 'msmarco.run'), 'utf8')).trim().split('\n');
      // the blank passage 13 has no dense score and is left out; every line is a TREC line tagged with the fusion
      expect(lines.map((l) => l.split(' ').slice(0, 3).join(' ')).sort()).toEqual(['1 Q0 184', '1 Q0 29', '2 Q0 12']);
      expect(lines.map((l) => l.split(' ')[3]).sort()).toEqual(['1', '1', '2']);
      expect(lines.every((l) => l.endsWith(' dotrank-rrf'))).toBe(true);
      expect(ok.stderr).toContain('1 candidates without text were left out');
      expect(unsorted.code).toBe(2);
      expect(unsorted.stderr).toContain('the rows of query 1 are not consecutive');
      expect(noCollection.code).toBe(2);
      expect(noCollection.stderr).toContain('--collection: is required with a TREC run');
    },
    SPAWN_TIMEOUT,
  );

  it(
    'eval --run adds an outside run as one more system, measured with a preset and corrected significance',
    async () => {
      const outside = join(dir, 'eval', 'bm25.run'); // the BM25 run of the first test, as an outside run
      const [withRun, taken] = await Promise.all([
        dotrank(
          ['eval', '--collection', collection, '--systems', 'bm25', '--depth', '10', '--run', `again=${outside}`]
            .concat(['--preset', 'beir', '--correction', 'holm', '--index-dir', join(dir, 'index')])
            .concat(['--out', join(dir, 'eval-run'), '--json', '--no-progress']),
          { env },
        ),
        dotrank(['eval', '--collection', collection, '--run', `bm25=${outside}`, '--out', join(dir, 'x')], { env }),
      ]);
      expect(withRun, withRun.stderr).toMatchObject({ code: 0 });
      const report = JSON.parse(withRun.stdout) as {
        measures: string[];
        systems: Record<
          string,
          { aggregate: Record<string, number>; significance?: Record<string, { pValueRandomization: number }> }
        >;
        significanceTest: { correction: string };
      };
      expect(report.measures).toEqual(['nDCG@10', 'R@100']);
      expect(report.systems['again']!.aggregate).toEqual(report.systems['bm25']!.aggregate);
      expect(report.systems['again']!.significance!['nDCG@10']!.pValueRandomization).toBe(1);
      expect(report.significanceTest.correction).toBe('holm');
      expect(taken.code).toBe(2);
      expect(taken.stderr).toContain('--run: the name "bm25" is taken');
    },
    SPAWN_TIMEOUT,
  );
});
