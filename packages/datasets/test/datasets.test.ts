import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Passage } from '@dotrank/core';
import { NotFoundError, ValidationError } from '@dotrank/core';
import { repoPath } from '@dotrank/core/testing';
import type { MalformedLine } from '../src/lines.js';
import { compareTrecOrder, strcmp } from '../src/order.js';
import { findCollection } from '../src/collection.js';
import { formatRun, readQrels, readRun, writeRun } from '../src/trec.js';
import { readTrecQrelsFast, readTrecRunFast } from '../src/trec-fast.js';
import { readCorpus, readQueries } from '../src/corpus.js';
import { readTop1000 } from '../src/top1000.js';

let dir: string;
const file = async (name: string, text: string | Buffer): Promise<string> => {
  const path = join(dir, name);
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, text);
  return path;
};
const collect = async <T>(it: AsyncIterable<T>): Promise<T[]> => {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dotrank-datasets-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('readCorpus', () => {
  it('reads BEIR JSONL: title joined to text, title kept, scalar fields to metadata', async () => {
    const path = await file(
      'beir/corpus.jsonl',
      '\ufeff{"_id": "d1", "title": "Wings", "text": "lift and drag", "year": 1960, "metadata": {"url": "u1", "tags": ["x"]}}\n' +
        '{"_id": 2, "title": "", "text": "no title here"}\r\n' +
        '\n' +
        '{"_id": "d3", "text": "plain", "open": true, "nested": {"a": 1}}\n',
    );
    const passages = await collect(readCorpus(path));
    expect(passages).toEqual<Passage[]>([
      { id: 'd1', text: 'Wings lift and drag', title: 'Wings', metadata: { year: 1960, url: 'u1' } },
      { id: '2', text: 'no title here' },
      { id: 'd3', text: 'plain', metadata: { open: true } },
    ]);
  });

  it('reads a BEIR folder through corpus.jsonl and custom JSONL fields', async () => {
    await file('beir2/corpus.jsonl', '{"_id": "a", "text": "alpha"}\n');
    await file('beir2/queries.jsonl', '{"_id": "q1", "text": "what alpha"}\n');
    await file('beir2/qrels/test.tsv', 'query-id\tcorpus-id\tscore\nq1\ta\t1\n');
    expect(await collect(readCorpus(join(dir, 'beir2')))).toEqual([{ id: 'a', text: 'alpha' }]);
    const custom = await file('custom.jsonl', '{"docid": "x", "body": "text x", "headline": "H"}\n');
    expect(await collect(readCorpus(custom, { fields: { id: 'docid', text: 'body', title: 'headline' } }))).toEqual([
      { id: 'x', text: 'H text x', title: 'H' },
    ]);
  });

  it('reads MS MARCO collection.tsv and generic TSV (with header and title column), gzip too', async () => {
    const marco = await file('marco/collection.tsv', '0\tThe presence of communication\n1\tsecond passage\n');
    expect(await collect(readCorpus(marco))).toEqual([
      { id: '0', text: 'The presence of communication' },
      { id: '1', text: 'second passage' },
    ]);
    const tsv = await file('docs.tsv', 'id\ttitle\ttext\nx1\tT\tbody\nx2\t\tbare\n');
    expect(await collect(readCorpus(tsv))).toEqual([
      { id: 'x1', text: 'T body', title: 'T' },
      { id: 'x2', text: 'bare' },
    ]);
    const gz = await file('docs.jsonl.gz', gzipSync('{"_id": "g", "text": "zipped"}\n'));
    expect(await collect(readCorpus(gz))).toEqual([{ id: 'g', text: 'zipped' }]);
  });

  it('throws on a malformed line with file and line number', async () => {
    const path = await file('bad.jsonl', '{"_id": "ok", "text": "fine"}\n{"_id": "b", "text": \n');
    const error = await collect(readCorpus(path)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(`${path}:2`);
    expect((error as ValidationError).message).toMatch(/invalid JSON/);
  });

  it("with onInvalid: 'skip' reports and skips bad lines, keeps good ones", async () => {
    const path = await file(
      'mixed.jsonl',
      '{"_id": "a", "text": "one"}\nnot json\n{"text": "no id"}\n{"_id": "c", "text": 5}\n[1,2]\n{"_id": "d", "text": "four"}\n',
    );
    const bad: MalformedLine[] = [];
    const passages = await collect(readCorpus(path, { onInvalid: 'skip', onSkipped: (m) => bad.push(m) }));
    expect(passages.map((p) => p.id)).toEqual(['a', 'd']);
    expect(bad.map((m) => m.line)).toEqual([2, 3, 4, 5]);
    expect(bad[1]).toEqual({ file: path, line: 3, reason: 'missing id field "id"' });
    expect(bad[2]!.reason).toBe('text field "text" must be a string');
  });

  it('fails by default on a duplicate id, an id with whitespace or a control character, and bytes that are not UTF-8', async () => {
    const cases: Array<[string, string | Buffer, number, RegExp]> = [
      [
        'dup.jsonl',
        '{"_id": "a", "text": "one"}\n{"_id": "b", "text": "two"}\n{"_id": "a", "text": "again"}\n',
        3,
        /duplicate id "a" \(first on line 1\)/,
      ],
      [
        'newline-id.jsonl',
        '{"_id": "a\\nb", "text": "one"}\n',
        1,
        /id field "_id" "a\\nb" contains whitespace or a control character/,
      ],
      ['tab-id.jsonl', '{"_id": "x", "text": "one"}\n{"_id": "a\\tb", "text": "two"}\n', 2, /contains whitespace/],
      ['space-id.jsonl', '{"_id": "a b", "text": "one"}\n', 1, /contains whitespace/],
      ['control-id.jsonl', '{"_id": "a\\u0001", "text": "one"}\n', 1, /control character/],
      ['space-id.tsv', 'a b\tone\n', 1, /id "a b" contains whitespace/],
      [
        'latin1.jsonl',
        Buffer.concat([
          Buffer.from('{"_id": "a", "text": "ok"}\n{"_id": "b", "text": "caf'),
          Buffer.from([0xe9]),
          Buffer.from('"}\n'),
        ]),
        2,
        /invalid UTF-8/,
      ],
    ];
    for (const [name, text, line, reason] of cases) {
      const path = await file(`strict/${name}`, text);
      const error = await collect(readCorpus(path)).catch((e: unknown) => e);
      expect(error, name).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field, name).toBe(`${path}:${line}`);
      expect((error as ValidationError).message, name).toMatch(reason);
    }
  });

  it('fails on an empty corpus, and on one whose every line was skipped', async () => {
    const empty = await file('strict/empty.jsonl', '\n\n');
    await expect(collect(readCorpus(empty))).rejects.toThrow(`${empty}: the corpus holds no passage`);
    const allBad = await file('strict/all-bad.jsonl', 'nope\n');
    const bad: MalformedLine[] = [];
    await expect(collect(readCorpus(allBad, { onInvalid: 'skip', onSkipped: (m) => bad.push(m) }))).rejects.toThrow(
      /no valid passage/,
    );
    expect(bad).toEqual([{ file: allBad, line: 1, reason: expect.stringMatching(/invalid JSON/) }]);
  });

  it('keeps passages with blank text and tells onBlankText where they are; a valid U+FFFD is kept', async () => {
    const path = await file(
      'strict/blank.jsonl',
      '{"_id": "a", "text": "one"}\n{"_id": "b", "text": "  "}\n{"_id": "c", "text": "\ufffd"}\n',
    );
    const blank: unknown[] = [];
    const passages = await collect(readCorpus(path, { onBlankText: (p) => blank.push(p) }));
    expect(passages.map((p) => p.id)).toEqual(['a', 'b', 'c']);
    expect(passages[2]!.text).toBe('\ufffd');
    expect(blank).toEqual([{ id: 'b', file: path, line: 2 }]);
  });

  it('names the line of bytes that are not UTF-8 in a gzip file and across read chunks', async () => {
    const good = Array.from({ length: 30_000 }, (_, i) =>
      JSON.stringify({ _id: `d${i}`, text: `passage number ${i} é` }),
    ).join('\n');
    const bytes = Buffer.concat([
      Buffer.from('\ufeff' + good + '\n{"_id": "bad", "text": "'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"}\n'),
    ]);
    const path = await file('strict/big.jsonl.gz', gzipSync(bytes));
    await expect(collect(readCorpus(path))).rejects.toThrow(`${path}:30001: invalid UTF-8`);
    const skipped: MalformedLine[] = [];
    const passages = await collect(readCorpus(path, { onInvalid: 'skip', onSkipped: (m) => skipped.push(m) }));
    expect(passages).toHaveLength(30_000);
    expect(passages[0]!.id).toBe('d0');
    expect(skipped.map((m) => m.line)).toEqual([30_001]);
  });

  it('rejects wrong TSV column counts and unknown extensions; missing paths are NotFoundError', async () => {
    const marco = await file('marco2/collection.tsv', '0\ttext\n1\tthree\tcolumns\n');
    await expect(collect(readCorpus(marco))).rejects.toThrow(`${marco}:2: expected 2 tab-separated columns`);
    const odd = await file('corpus.xml', '<x/>');
    await expect(collect(readCorpus(odd))).rejects.toThrow(/format: cannot infer/);
    await expect(collect(readCorpus(join(dir, 'nope.jsonl')))).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('readQueries', () => {
  it('reads BEIR JSONL and MS MARCO TSV', async () => {
    const jsonl = await file('q.jsonl', '{"_id": "1", "text": "first"}\n{"_id": 2, "text": "second"}\n');
    expect(await readQueries(jsonl)).toEqual([
      { id: '1', text: 'first' },
      { id: '2', text: 'second' },
    ]);
    const tsv = await file('queries.dev.tsv', "1048585\twhat is paula deen's brother\n2\tsecond\n");
    expect(await readQueries(tsv)).toEqual([
      { id: '1048585', text: "what is paula deen's brother" },
      { id: '2', text: 'second' },
    ]);
  });

  it('rejects duplicate ids and lines without a tab, naming the line', async () => {
    const dup = await file('dup.tsv', '1\ta\n2\tb\n1\tc\n');
    await expect(readQueries(dup)).rejects.toThrow(`${dup}:3: duplicate query id 1 (first on line 1)`);
    const notab = await file('notab.tsv', '1 a\n');
    await expect(readQueries(notab)).rejects.toThrow(`${notab}:1: expected qid<TAB>text`);
  });
});

describe('readQrels', () => {
  it('reads TREC qrels with spaces or tabs, comments, grades and negatives', async () => {
    const path = await file('qrels.trec', '# judged\n1 0 d1 2\n1\t0\td2\t0\n2 Q0 d9 -1\n');
    const qrels = await readQrels(path);
    expect([...qrels.keys()]).toEqual(['1', '2']);
    expect(Object.fromEntries(qrels.get('1')!)).toEqual({ d1: 2, d2: 0 });
    expect(qrels.get('2')!.get('d9')).toBe(-1);
  });

  it('reads BEIR TSV with or without a header', async () => {
    const withHeader = await file('h.tsv', 'query-id\tcorpus-id\tscore\nq1\tdA\t1\nq1\tdB\t2\n');
    expect(Object.fromEntries((await readQrels(withHeader)).get('q1')!)).toEqual({ dA: 1, dB: 2 });
    const bare = await file('b.tsv', 'q1\tdA\t1\n');
    expect((await readQrels(bare)).get('q1')!.get('dA')).toBe(1);
  });

  it('rejects duplicates, mixed layouts and non-integer grades with the line', async () => {
    const dup = await file('dup.qrels', '1 0 d1 1\n1 0 d2 1\n1 0 d1 0\n');
    await expect(readQrels(dup)).rejects.toThrow(
      `${dup}:3: duplicate judgment for query 1, document d1 (first on line 1)`,
    );
    const mixed = await file('mixed.qrels', '1 0 d1 1\n1 d2 1\n');
    await expect(readQrels(mixed)).rejects.toThrow(`${mixed}:2: expected 4 columns`);
    const grade = await file('grade.qrels', '1 0 d1 high\n');
    await expect(readQrels(grade)).rejects.toThrow(`${grade}:1: relevance must be an integer`);
  });
});

describe('readRun / formatRun / writeRun', () => {
  it('reads a TREC run, keeping file order and ignoring extra columns and comments', async () => {
    const path = await file(
      'run.trec',
      '# comment\n1 Q0 d1 1 12.5 bm25\n1 Q0 d2 2 3e-1 bm25 extra\n2\tQ0\td3\t1\t-4\tbm25\n',
    );
    const run = await readRun(path);
    expect(run.get('1')).toEqual([
      { docId: 'd1', score: 12.5, rank: 1 },
      { docId: 'd2', score: 0.3, rank: 2 },
    ]);
    expect(run.get('2')).toEqual([{ docId: 'd3', score: -4, rank: 1 }]);
  });

  it('rejects duplicate docids within a query, short lines and bad scores', async () => {
    const dup = await file('dup.run', '1 Q0 d1 1 2 t\n2 Q0 d1 1 2 t\n1 Q0 d1 2 1 t\n');
    await expect(readRun(dup)).rejects.toThrow(`${dup}:3: duplicate document d1 for query 1 (first on line 1)`);
    const short = await file('short.run', '1 Q0 d1 1 2\n');
    await expect(readRun(short)).rejects.toThrow(`${short}:1: expected 6 columns`);
    const nan = await file('nan.run', '1 Q0 d1 1 abc t\n');
    await expect(readRun(nan)).rejects.toThrow(`${nan}:1: score must be a finite number`);
  });

  it('reads the usual file by the fast path with the same result as the general reader', async () => {
    // a leading comment with a non-ASCII character sends the same lines to the general reader
    const general = '# \u00e9\n';
    const lines = [
      '# comment',
      'q1 Q0 d1 1 12.5 bm25',
      'q1\tQ0\td2\t+2\t3e-1\tbm25 extra columns',
      '',
      '   ',
      'q1 Q0 d3 -0 -0.000001 t',
      'q1 Q0 d4 4 0.1234567890123456789 t',
      'q1 Q0 d5 5 1234567890123456 t',
      'q2 Q0 d1 1 .5 t\r',
      'q2 Q0 d2 2 -7. t',
      'q2 Q0 d3 3 0x10 t',
      'q2 Q0 d4 4 99999999999999999999 t',
      'q3 Q0 d9 1 0.30000000000000004 t',
    ];
    for (const [name, text] of [
      ['plain', `${lines.join('\n')}\n`],
      ['no final break', lines.join('\n')],
    ] as const) {
      const fast = await file(`fast-${name}.run`, text);
      const slow = await file(`slow-${name}.run`, general + text);
      const gz = await file(`fast-${name}.run.gz`, gzipSync(text));
      expect(await readTrecRunFast(fast)).toBeDefined();
      expect(await readTrecRunFast(slow)).toBeUndefined();
      const expected = await readRun(slow);
      expect(expected.get('q2')!.map((e) => e.score)).toEqual([0.5, -7, 16, 1e20]);
      expect(await readRun(fast)).toEqual(expected);
      expect(await readRun(gz)).toEqual(expected);
    }
    // lines of one query apart, a byte order mark: the general reader takes them, same result
    const apart = await file('apart.run', '1 Q0 a 1 1 t\n2 Q0 b 1 1 t\n1 Q0 c 2 0.5 t\n');
    expect(await readTrecRunFast(apart)).toBeUndefined();
    expect((await readRun(apart)).get('1')!.map((e) => e.docId)).toEqual(['a', 'c']);
    const bom = await file('bom.run', '\ufeff1 Q0 a 1 1 t\n');
    expect((await readRun(bom)).get('1')!.map((e) => e.docId)).toEqual(['a']);
    // qrels: TREC, BEIR with a header, a query's lines apart
    for (const text of [
      '1 0 a 1\n2 0 b 0\n# c\n1 0 c -1\r\n',
      'query-id corpus-id score\n1\ta\t2\n2\tb\t+0\n1\tc\t1',
    ]) {
      const fast = await file('fast.qrels', text);
      const slow = await file('slow.qrels', general + text);
      expect(await readTrecQrelsFast(fast)).toBeDefined();
      expect(await readTrecQrelsFast(slow)).toBeUndefined();
      expect(await readQrels(fast)).toEqual(await readQrels(slow));
    }
  });

  it('fast path: long queries and doc ids recurring across queries read as the general reader reads them', async () => {
    // 5,000 lines per query outgrow the duplicate check's first table; every query retrieves the same doc ids
    const lines: string[] = [];
    for (const q of ['1', '2', '3'])
      for (let r = 0; r < 5000; r++) lines.push(`${q} Q0 doc-${(r * 7919) % 5000} ${r + 1} ${5000 - r} t`);
    const text = `${lines.join('\n')}\n`;
    const fast = await file('long.run', text);
    const slow = await file('long-slow.run', `# \u00e9\n${text}`);
    expect(await readTrecRunFast(fast)).toBeDefined();
    expect(await readRun(fast)).toEqual(await readRun(slow));
    // a duplicate late in a long query: the general reader reports it with its line
    const dup = await file('long-dup.run', `${text}3 Q0 doc-17 5001 0 t\n`);
    expect(await readTrecRunFast(dup)).toBeUndefined();
    await expect(readRun(dup)).rejects.toThrow(`${dup}:15001: duplicate document doc-17 for query 3`);
  });

  it('formats in trec_eval order: score desc, ties by docid descending, ranks recomputed', () => {
    const run = new Map([
      [
        'q1',
        [
          { docId: 'a', score: 1 },
          { docId: 'c', score: 2 },
          { docId: 'b', score: 1 },
          { docId: 'z', score: 0.5 },
        ],
      ],
    ]);
    // c has the top score; a and b tie at 1 -> "b" > "a" in strcmp, so b comes first.
    expect(formatRun(run, 'dense')).toBe(
      'q1 Q0 c 1 2 dense\nq1 Q0 b 2 1 dense\nq1 Q0 a 3 1 dense\nq1 Q0 z 4 0.5 dense\n',
    );
    expect(() => formatRun(run, 'two words')).toThrow(/tag/);
  });

  it('treats scores equal in float32 as ties, as trec_eval (float sim) does', () => {
    // 1 + 2^-30 rounds to 1 in float32, so these tie and the docid decides (d2 > d1).
    const sorted = [
      { docId: 'd2', score: 1 },
      { docId: 'd1', score: 1 + 2 ** -30 },
    ].sort(compareTrecOrder);
    expect(sorted.map((e) => e.docId)).toEqual(['d2', 'd1']);
  });

  it('compares docids by UTF-8 bytes like strcmp', () => {
    expect(strcmp('a', 'b')).toBeLessThan(0);
    expect(strcmp('ab', 'a')).toBeGreaterThan(0);
    // U+FF61 (3 UTF-8 bytes, EF BD A1) < U+1F600 (4 bytes, F0 9F 98 80), though UTF-16 puts the surrogate D83D first.
    expect(strcmp('\uff61', '\u{1f600}')).toBeLessThan(0);
    expect('\uff61' < '\u{1f600}').toBe(false);
  });

  it('writes a run file that reads back', async () => {
    const path = join(dir, 'out.run');
    await writeRun(
      path,
      new Map([
        [
          '7',
          [
            { docId: 'x', score: 0.25 },
            { docId: 'y', score: 0.75 },
          ],
        ],
      ]),
      'tag1',
    );
    expect(await readFile(path, 'utf8')).toBe('7 Q0 y 1 0.75 tag1\n7 Q0 x 2 0.25 tag1\n');
    expect((await readRun(path)).get('7')!.map((e) => e.docId)).toEqual(['y', 'x']);
  });
});

describe('findCollection and readTop1000', () => {
  it('finds BEIR files, preferring qrels/test.tsv', async () => {
    await file('beir3/corpus.jsonl', '');
    await file('beir3/queries.jsonl', '');
    await file('beir3/qrels/dev.tsv', '');
    await file('beir3/qrels/test.tsv', '');
    const found = await findCollection(join(dir, 'beir3'));
    expect(found).toMatchObject({ name: 'beir3', format: 'beir' });
    expect(found.qrels).toBe(join(dir, 'beir3', 'qrels', 'test.tsv'));
    await file('beir4/corpus.jsonl', '');
    await file('beir4/queries.jsonl', '');
    await file('beir4/qrels/b.trec', '');
    await file('beir4/qrels/a.tsv', '');
    expect((await findCollection(join(dir, 'beir4'))).qrels).toBe(join(dir, 'beir4', 'qrels', 'a.tsv'));
  });

  it('finds MS MARCO files, pairing queries and qrels of the same split', async () => {
    await file('msm/collection.tsv', '');
    await file('msm/queries.train.tsv', '');
    await file('msm/queries.dev.small.tsv', '');
    await file('msm/qrels.train.tsv', '');
    await file('msm/qrels.dev.small.tsv', '');
    const found = await findCollection(join(dir, 'msm'));
    expect(found.format).toBe('msmarco');
    expect(found.queries).toBe(join(dir, 'msm', 'queries.dev.small.tsv'));
    expect(found.qrels).toBe(join(dir, 'msm', 'qrels.dev.small.tsv'));
    await expect(findCollection(join(dir, 'beir'))).rejects.toThrow(/queries file not found/);
  });

  it('reads MS MARCO top1000 rows', async () => {
    const path = await file('top1000.dev.tsv', '188714\t1000052\tfoods and supplements\tThe passage text\n');
    expect(await collect(readTop1000(path))).toEqual([
      { queryId: '188714', docId: '1000052', query: 'foods and supplements', passage: 'The passage text' },
    ]);
  });
});

describe('the real Cranfield collection (datasets/cranfield)', () => {
  it('reads 1400 docs, 225 queries and 1837 judgments (TSV and TREC agree)', async () => {
    const root = repoPath('datasets/cranfield');
    let docs = 0;
    let first: Passage | undefined;
    for await (const passage of readCorpus(root)) {
      first ??= passage;
      docs++;
    }
    expect(docs).toBe(1400);
    expect(first!.id).toBe('1');
    expect(first!.title).toBe('experimental investigation of the aerodynamics of a wing in a slipstream .');
    expect(first!.text.startsWith(`${first!.title} an experimental study`)).toBe(true);
    const queries = await readQueries(root);
    expect(queries).toHaveLength(225);
    const tsv = await readQrels(root);
    const trec = await readQrels(join(root, 'qrels', 'test.trec'));
    const count = (q: Map<string, Map<string, number>>) => [...q.values()].reduce((n, m) => n + m.size, 0);
    expect(count(tsv)).toBe(1837);
    expect(count(trec)).toBe(1837);
    expect(tsv).toEqual(trec);
  });
});
