import { cp, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoPath } from '@dotrank/core/testing';
import { dotrank, SPAWN_TIMEOUT } from './cli.js';
import type { CliResult } from './cli.js';

let dir: string;

/** Runs the CLI with its own data dir, no cluster and no model; `search` takes no --no-progress. */
function run(args: string[]): Promise<CliResult> {
  return dotrank(args[0] === 'search' ? args : [...args, '--no-progress'], {
    env: {
      DOTRANK_DATA_DIR: join(dir, 'data'),
      ELASTICSEARCH_URL: undefined,
      ELASTICSEARCH_CLOUD_ID: undefined,
      DOTRANK_MODEL: undefined,
    },
    cwd: dir,
  });
}

const line = (id: unknown, text: string) => JSON.stringify({ _id: id, text });
const good = [line('a', 'boundary layer flow'), line('b', 'heat transfer')];

/** Each kind of bad corpus, the line it is on, and what the message says. */
const BAD_CORPORA: Array<[name: string, bytes: Buffer, line: number, problem: RegExp]> = [
  ['malformed', Buffer.from([...good, '{"_id": "c", "text": '].join('\n')), 3, /invalid JSON/],
  ['duplicate', Buffer.from([...good, line('a', 'again')].join('\n')), 3, /duplicate id "a" \(first on line 1\)/],
  [
    'newline-id',
    Buffer.from([line('a\nb', 'text'), ...good].join('\n')),
    1,
    /"a\\nb" contains whitespace or a control character/,
  ],
  ['tab-id', Buffer.from([...good, line('c\td', 'text')].join('\n')), 3, /"c\\td" contains whitespace/],
  ['space-id', Buffer.from([...good, line('c d', 'text')].join('\n')), 3, /"c d" contains whitespace/],
  [
    'latin1',
    Buffer.concat([
      Buffer.from(`${good.join('\n')}\n{"_id": "c", "text": "caf`),
      Buffer.from([0xe9]),
      Buffer.from('"}\n'),
    ]),
    3,
    /invalid UTF-8/,
  ],
  ['empty', Buffer.from('\n'), 0, /the corpus holds no passage/],
];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dotrank-strict-cli-'));
  for (const [name, bytes] of BAD_CORPORA) await writeFile(join(dir, `${name}.jsonl`), bytes);
  await writeFile(join(dir, 'good.jsonl'), `${good.join('\n')}\n`);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('strict corpus input', { timeout: SPAWN_TIMEOUT * 3 }, () => {
  it.each(BAD_CORPORA)(
    'refuses a %s corpus: exit 2 naming file:line, no index folder created',
    async (name, _bytes, lineNo, problem) => {
      const file = join(dir, `${name}.jsonl`);
      const r = await run(['index', '--collection', file]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(lineNo > 0 ? `${file}:${lineNo}: ` : `${file}: `);
      expect(r.stderr).toMatch(problem);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      await expect(stat(join(dir, 'data', 'index'))).rejects.toThrow(/ENOENT/);
    },
  );

  it('leaves an earlier index untouched when a bad corpus is indexed into its folder, with or without --rebuild', async () => {
    const indexDir = join(dir, 'kept');
    expect((await run(['index', '--collection', join(dir, 'good.jsonl'), '--index-dir', indexDir])).code).toBe(0);
    const manifest = await readFile(join(indexDir, 'manifest.json'), 'utf8');
    for (const extra of [[], ['--rebuild']]) {
      const r = await run(['index', '--collection', join(dir, 'duplicate.jsonl'), '--index-dir', indexDir, ...extra]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`duplicate.jsonl:3: duplicate id "a"`);
      expect(await readFile(join(indexDir, 'manifest.json'), 'utf8')).toBe(manifest);
      expect((await readdir(dir)).filter((name) => /^kept\.(tmp|old)-/.test(name))).toEqual([]);
    }
    const search = await run(['search', 'heat', '--json', '--index-dir', indexDir]);
    expect((JSON.parse(search.stdout) as Array<{ id: string }>).map((x) => x.id)).toEqual(['b']);
  });

  it('--skip-invalid indexes the valid lines and reports every skipped one with its count', async () => {
    const mixed = join(dir, 'mixed.jsonl');
    await writeFile(
      mixed,
      Buffer.concat([
        Buffer.from(
          [
            line('a', 'one'),
            'nope',
            line('a', 'dup'),
            line('x y', 'space'),
            line('b', 'two'),
            '{"_id": "c", "text": "\xff',
          ].join('\n'),
        ),
        Buffer.from([0xff]),
        Buffer.from('"}\n'),
      ]),
    );
    const r = await run(['index', '--collection', mixed, '--index-dir', join(dir, 'mixed-index'), '--skip-invalid']);
    expect(r.code).toBe(0);
    for (const lineNo of [2, 3, 4, 6]) expect(r.stderr).toContain(`skipped ${mixed}:${lineNo}: `);
    expect(r.stderr).toMatch(/skipped 4 invalid lines \(--skip-invalid\)/);
    expect(r.stdout).toMatch(/^indexed 2, failed 0, skipped 4 /);
  });

  it('eval with a bad qrels line fails with file:line before indexing anything', async () => {
    const collection = join(dir, 'cranfield');
    await cp(repoPath('datasets/cranfield'), collection, { recursive: true });
    const qrels = join(collection, 'qrels', 'test.tsv');
    const lines = (await readFile(qrels, 'utf8')).split('\n');
    lines[5] = '1\t29\tvery';
    await writeFile(qrels, lines.join('\n'));
    const indexDir = join(dir, 'eval-index');
    const r = await run([
      'eval',
      '--collection',
      collection,
      '--out',
      join(dir, 'eval-out'),
      '--systems',
      'bm25',
      '--index-dir',
      indexDir,
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      new RegExp(`${qrels.replace(/[.\\/]/g, '\\$&')}:6: relevance must be an integer, got "very"`),
    );
    expect(r.stderr).not.toMatch(/indexed \d+ passages/);
    await expect(stat(indexDir)).rejects.toThrow(/ENOENT/);
    await expect(stat(join(dir, 'eval-out'))).rejects.toThrow(/ENOENT/);
  });
});
