// `dotrank eval --doc-score`: every reranking system once per document score, side by side, on long documents.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tinyModelDir } from '@dotrank/core/testing';
import { readCorpus, readRun } from '@dotrank/datasets';
import { loadEncoder } from '@dotrank/encoder';
import { candidateWindowsFor } from '@dotrank/rerank-core';
import { collectionSlice, dotrank, SPAWN_TIMEOUT } from './cli.js';

// four queries of the long-document collection, few candidates each: a handful of long documents to encode
let dir: string;
let collection: string;
const env = { REDIS_URL: undefined, ELASTICSEARCH_URL: undefined, DOTRANK_DOC_SCORE: undefined };
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dotrank-doc-score-'));
  collection = join(dir, 'long');
  await collectionSlice('cranfield-long', collection, 4);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);

describe('dotrank eval --doc-score', () => {
  it(
    'evaluates each doc-score as its own systems, maxp ranking by the best window, with the best passages beside the runs',
    async () => {
      const out = join(dir, 'out');
      const model = tinyModelDir();
      const result = await dotrank(
        ['eval', '--collection', collection, '--model', model, '--systems', 'bm25,tasb,rrf', '--depth', '5'].concat([
          '--doc-score',
          'first,maxp,kmax:2',
          '--index-dir',
          join(dir, 'index'),
          '--out',
          out,
          '--cache',
          'memory',
          '--no-progress',
        ]),
        { env },
      );
      expect(result, result.stderr).toMatchObject({ code: 0 });
      const metrics = JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8')) as { systems: object };
      expect(Object.keys(metrics.systems).sort()).toEqual(
        ['bm25', 'rrf', 'rrf-kmax2', 'rrf-maxp', 'tasb', 'tasb-kmax2', 'tasb-maxp'].sort(),
      );
      for (const name of ['tasb-maxp', 'tasb-kmax2']) expect(result.stdout).toMatch(new RegExp(`^${name} `, 'm'));

      // maxp by hand: every window of query 1's candidates encoded, a document scored by its best window
      const bm25 = (await readRun(join(out, 'bm25.run'))).get('1')!;
      const maxp = (await readRun(join(out, 'tasb-maxp.run'))).get('1')!;
      const texts = new Map<string, string>();
      const wanted = new Set(bm25.map((e) => e.docId));
      for await (const p of readCorpus(join(collection, 'corpus.jsonl'))) if (wanted.has(p.id)) texts.set(p.id, p.text);
      const windows = (await candidateWindowsFor(model, { docScore: 'maxp' }))!;
      const encoder = await loadEncoder(model);
      try {
        const [query] = await encoder.encodeQueries([
          'what similarity laws must be obeyed when constructing aeroelastic models of heated high speed aircraft .',
        ]);
        const byHand: { docId: string; score: number; best: string }[] = [];
        for (const docId of wanted) {
          const split = windows.split(texts.get(docId)!);
          expect(split.length).toBeGreaterThan(1); // long documents: several windows each
          const scores = (await encoder.encodePassages(split.map((w) => w.text))).map((v) => dot(query!, v));
          const best = scores.indexOf(Math.max(...scores));
          byHand.push({ docId, score: scores[best]!, best: split[best]!.text });
        }
        byHand.sort((a, b) => b.score - a.score);
        expect(maxp.map((e) => e.docId)).toEqual(byHand.map((e) => e.docId));
        for (const [i, e] of maxp.entries()) expect(e.score).toBeCloseTo(byHand[i]!.score, 4);

        // the best passages beside the windowed runs (not beside `first`'s, which has no windows)
        const lines = (await readFile(join(out, 'tasb-maxp.passages.jsonl'), 'utf8'))
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { qid: string; docid: string; text: string; start: number; end: number });
        const q1 = lines.filter((l) => l.qid === '1');
        expect(q1.map((l) => l.docid)).toEqual(byHand.map((e) => e.docId));
        for (const [i, l] of q1.entries()) {
          expect(l.text).toBe(byHand[i]!.best);
          expect(texts.get(l.docid)!.slice(l.start, l.end)).toBe(l.text);
        }
        await expect(readFile(join(out, 'tasb.passages.jsonl'))).rejects.toThrow(/ENOENT/);
      } finally {
        await encoder.close();
      }

      // dotrank rerank --run with the same doc-score gives the same run and passages
      const rerankOut = join(dir, 'reranked.run');
      const reranked = await dotrank(
        ['rerank', '--run', join(out, 'bm25.run'), '--collection', collection, '--model', model].concat([
          '--doc-score',
          'maxp',
          '--tag',
          'dotrank-tasb-maxp',
          '--out',
          rerankOut,
          '--no-progress',
        ]),
        { env },
      );
      expect(reranked, reranked.stderr).toMatchObject({ code: 0 });
      expect(await readFile(rerankOut, 'utf8')).toBe(await readFile(join(out, 'tasb-maxp.run'), 'utf8'));
      expect(await readFile(join(dir, 'reranked.passages.jsonl'), 'utf8')).toBe(
        await readFile(join(out, 'tasb-maxp.passages.jsonl'), 'utf8'),
      );
    },
    SPAWN_TIMEOUT,
  );

  it('refuses an unknown doc-score, naming --doc-score (exit 2)', async () => {
    const result = await dotrank(
      ['eval', '--collection', collection, '--model', tinyModelDir(), '--doc-score', 'first,maxq', '--out', dir],
      { env },
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--doc-score.*maxq/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
