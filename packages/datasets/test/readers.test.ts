import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readCorpus, readQrels, readQueries, readRun } from '../src/index.js';

// What researchers have on disk: MS MARCO TSV files (gzipped as often distributed), TREC-DL qrels, TREC runs and
// ir_datasets `export --format jsonl` files. Small copies of each layout live in fixtures/researcher/.
const at = (name: string) => fileURLToPath(new URL(`./fixtures/researcher/${name}`, import.meta.url));

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

describe('MS MARCO and TREC-DL files', () => {
  it('reads gzipped MS MARCO collection, queries and qrels', async () => {
    const passages = await collect(readCorpus(at('collection.tsv.gz')));
    expect(passages.map((p) => p.id)).toEqual(['7187158', '1000', '1001']);
    expect(await readQueries(at('queries.dev.small.tsv.gz'))).toEqual([
      { id: '1048585', text: "what is paula deen's brother" },
      { id: '2', text: 'androgen receptor define' },
    ]);
    const qrels = await readQrels(at('qrels.dev.small.tsv.gz'));
    expect(qrels.get('1048585')).toEqual(new Map([['7187158', 1]]));
  });
  it('reads TREC-DL qrels (graded, Q0 column) and a gzipped TREC run', async () => {
    const qrels = await readQrels(at('2019qrels-pass.txt'));
    expect(qrels.get('19335')).toEqual(
      new Map([
        ['1017759', 0],
        ['1082489', 3],
      ]),
    );
    const run = await readRun(at('bm25.run.gz'));
    expect(run.get('1048585')).toEqual([
      { docId: '7187158', score: 12.5, rank: 1 },
      { docId: '1001', score: 3.25, rank: 2 },
    ]);
  });
});

describe('ir_datasets JSONL exports', () => {
  it('reads qrels, scoreddocs (as a run), queries and docs, each as the TSV equivalents read', async () => {
    expect(await readQrels(at('qrels.jsonl'))).toEqual(
      new Map([
        ['1048585', new Map([['7187158', 1]])],
        ['2', new Map([['1000', 2]])],
      ]),
    );
    const run = await readRun(at('scoreddocs.jsonl'));
    expect(run).toEqual(await readRun(at('bm25.run.gz')));
    expect(await readQueries(at('queries.jsonl'))).toEqual(await readQueries(at('queries.dev.small.tsv.gz')));
    const docs = await collect(readCorpus(at('docs.jsonl')));
    expect(docs.map((d) => [d.id, d.text])).toEqual([
      ['7187158', 'Paula Deen and her brother Earl W. Bubba Hiers'],
      ['1000', 'The androgen receptor is a nuclear receptor'],
    ]);
  });
  it('names the file and line of a bad record', async () => {
    const file = at('bad-qrels.jsonl');
    await expect(readQrels(file)).rejects.toThrow(`${file}:2: field "relevance" must be an integer`);
  });
});
