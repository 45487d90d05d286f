import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunColumns, readRun, readRunColumns } from '../src/index.js';
import { readTrecRunFast } from '../src/trec-fast.js';

let dir: string;
const file = async (name: string, text: string | Buffer): Promise<string> => {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
};

/** The columns as readRun's shape without the rank column, to compare the two readers. */
function entries(columns: RunColumns): Map<string, { docId: string; score: number }[]> {
  const out = new Map<string, { docId: string; score: number }[]>();
  for (const [qid, { docs, scores }] of columns.queries)
    out.set(
      qid,
      [...docs].map((id, i) => ({ docId: columns.docIds[id]!, score: scores[i]! })),
    );
  return out;
}

async function readRunWithoutRanks(path: string): Promise<Map<string, { docId: string; score: number }[]>> {
  const run = await readRun(path);
  return new Map([...run].map(([qid, list]) => [qid, list.map(({ docId, score }) => ({ docId, score }))]));
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dotrank-run-columns-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('readRunColumns', () => {
  it('reads what readRun reads: comments, extra columns, odd numbers, gzip, and files only readRun takes', async () => {
    const lines = [
      '# comment',
      'q1 Q0 d1 1 12.5 bm25',
      'q1\tQ0\td2\t+2\t3e-1\tbm25 extra columns',
      '',
      'q1 Q0 d3 -0 -0.000001 t',
      'q1 Q0 d4 4 0.1234567890123456789 t',
      'q2 Q0 d1 1 .5 t\r',
      'q2 Q0 d2 2 0x10 t',
      'q2 Q0 d3 3 99999999999999999999 t',
      'q3 Q0 d9 1 0.30000000000000004 t',
    ];
    const text = `${lines.join('\n')}\n`;
    for (const path of [
      await file('plain.run', text),
      await file('no-break.run', lines.join('\n')),
      await file('plain.run.gz', gzipSync(text)),
      await file('general.run', `# \u00e9\n${text}`), // non-ASCII: read by readRun, then put in columns
      await file('apart.run', '1 Q0 a 1 1 t\n2 Q0 b 1 1 t\n1 Q0 c 2 0.5 t\n'),
      await file('bom.run', '\ufeff1 Q0 a 1 1 t\n'),
      await file(
        'run.jsonl',
        '{"query_id": "1", "doc_id": "a", "score": 2}\n{"query_id": "1", "doc_id": "b", "score": 1}\n',
      ),
    ]) {
      const columns = await readRunColumns(path);
      expect(entries(columns), path).toEqual(await readRunWithoutRanks(path));
    }
    const columns = await readRunColumns(join(dir, 'plain.run'));
    // one string per distinct doc id: d1, d2 and d3 recur in q2
    expect(columns.docIds).toEqual(['d1', 'd2', 'd3', 'd4', 'd9']);
    expect(columns.idOf('d3')).toBe(2);
    expect(columns.idOf('d5')).toBe(-1);
    expect([...columns.queries.get('q2')!.docs]).toEqual([0, 1, 2]);
  });

  it('interns recurring doc ids over long queries as readRun reads them', async () => {
    const lines: string[] = [];
    for (const q of ['1', '2', '3'])
      for (let r = 0; r < 5000; r++) lines.push(`${q} Q0 doc-${(r * 7919) % 5000} ${r + 1} ${5000 - r} t`);
    const path = await file('long.run', `${lines.join('\n')}\n`);
    const columns = await readRunColumns(path);
    expect(columns.docIds.length).toBe(5000);
    expect(entries(columns)).toEqual(await readRunWithoutRanks(path));
    for (const id of [0, 1234, 4999]) expect(columns.idOf(columns.docIds[id]!)).toBe(id);
  });

  it('reads lines cut between read chunks (1 MiB) the way the general reader does, gzip too', async () => {
    // a comment longer than a chunk, then ~4 MB of lines of varying length: chunk ends fall inside lines everywhere
    const lines = [`# ${'x'.repeat(1.5 * 2 ** 20)}`];
    for (let q = 0; q < 120; q++)
      for (let r = 0; r < 1000; r++)
        lines.push(`q${q} Q0 doc-${(r * 7919) % 3001}${'y'.repeat(r % 13)} ${r} ${r / 7} t`);
    const text = `${lines.join('\n')}\n`;
    const expected = await readRunWithoutRanks(await file('chunks-general.run', `# \u00e9\n${text}`));
    expect(entries(await readRunColumns(await file('chunks.run', text)))).toEqual(expected);
    expect(entries(await readRunColumns(await file('chunks.run.gz', gzipSync(text))))).toEqual(expected);
    expect(await readRunWithoutRanks(join(dir, 'chunks.run'))).toEqual(expected);
    // and by the fast scan itself (a mistake there would otherwise be hidden by the general reader taking over)
    for (const name of ['chunks.run', 'chunks.run.gz'])
      expect(await readTrecRunFast(join(dir, name))).toEqual(await readRun(join(dir, 'chunks-general.run')));
  });

  it('refuses duplicates, short lines and bad numbers with the file and line, as readRun does', async () => {
    const dup = await file('dup.run', '1 Q0 d1 1 2 t\n2 Q0 d1 1 2 t\n1 Q0 d1 2 1 t\n');
    await expect(readRunColumns(dup)).rejects.toThrow(`${dup}:3: duplicate document d1 for query 1 (first on line 1)`);
    const near = await file('near.run', '1 Q0 d1 1 2 t\n1 Q0 d2 2 1 t\n1 Q0 d1 3 0 t\n');
    await expect(readRunColumns(near)).rejects.toThrow(
      `${near}:3: duplicate document d1 for query 1 (first on line 1)`,
    );
    const gz = await file('dup.run.gz', gzipSync('1 Q0 d1 1 2 t\n1 Q0 d1 2 1 t\n'));
    await expect(readRunColumns(gz)).rejects.toThrow(`${gz}:2: duplicate document d1 for query 1 (first on line 1)`);
    const short = await file('short.run', '1 Q0 d1 1 2\n');
    await expect(readRunColumns(short)).rejects.toThrow(`${short}:1: expected 6 columns`);
    const nan = await file('nan.run', '1 Q0 d1 1 abc t\n');
    await expect(readRunColumns(nan)).rejects.toThrow(`${nan}:1: score must be a finite number`);
    const rank = await file('rank.run', '1 Q0 d1 one 2 t\n');
    await expect(readRunColumns(rank)).rejects.toThrow(`${rank}:1: rank must be an integer`);
    await expect(readRunColumns(join(dir, 'missing.run'))).rejects.toThrow(/missing\.run/);
  });

  it('puts a Map-shaped run in columns, refusing a doc id twice in a query', () => {
    const columns = RunColumns.fromRun(
      new Map([
        [
          'a',
          [
            { docId: 'x', score: 1 },
            { docId: '\u00e9t\u00e9', score: 0.5 },
          ],
        ],
        ['b', [{ docId: 'x', score: 3 }]],
      ]),
    );
    expect(columns.docIds).toEqual(['x', '\u00e9t\u00e9']);
    expect(columns.idOf('\u00e9t\u00e9')).toBe(1);
    expect([...columns.queries.get('b')!.scores]).toEqual([3]);
    expect(() =>
      RunColumns.fromRun(
        new Map([
          [
            'a',
            [
              { docId: 'x', score: 1 },
              { docId: 'x', score: 0 },
            ],
          ],
        ]),
      ),
    ).toThrow('duplicate document x for query a');
  });
});
