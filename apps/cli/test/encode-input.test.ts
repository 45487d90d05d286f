import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tinyModelDir } from '@dotrank/core/testing';
import { dotrank, SPAWN_TIMEOUT } from './cli.js';

let dir: string;

function encode(input: string, output: string, extra: string[] = []) {
  return dotrank(
    [
      'encode',
      '--model',
      tinyModelDir(),
      '--kind',
      'passage',
      '--in',
      input,
      '--out',
      output,
      '--no-progress',
      ...extra,
    ],
    {
      env: { DOTRANK_MODEL: undefined },
    },
  );
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dotrank-encode-input-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('dotrank encode: strict input', { timeout: SPAWN_TIMEOUT * 2 }, () => {
  it('refuses a duplicate id, an id with whitespace, bytes that are not UTF-8 and an empty file (exit 2, file:line, no output)', async () => {
    const cases: Array<[string, Buffer, string]> = [
      ['dup.tsv', Buffer.from('a\tone\nb\ttwo\na\tthree\n'), ':3: duplicate id "a" (first on line 1)'],
      [
        'space.jsonl',
        Buffer.from('{"id": "a b", "text": "one"}\n'),
        ':1: id "a b" contains whitespace or a control character',
      ],
      [
        'latin1.tsv',
        Buffer.concat([Buffer.from('a\tone\nb\tcaf'), Buffer.from([0xe9]), Buffer.from('\n')]),
        ':2: invalid UTF-8',
      ],
      ['empty.tsv', Buffer.from('\n'), ': holds no text to encode'],
    ];
    for (const [name, bytes, problem] of cases) {
      const input = join(dir, name);
      const output = join(dir, `${name}.out.jsonl`);
      await writeFile(input, bytes);
      const r = await encode(input, output);
      expect(r.code, name).toBe(2);
      expect(r.stderr, name).toContain(`${input}${problem}`);
      expect(existsSync(output), name).toBe(false);
    }
  });

  it('--skip-invalid encodes the valid lines and reports every skipped one', async () => {
    const input = join(dir, 'mixed.tsv');
    const output = join(dir, 'mixed.out.jsonl');
    await writeFile(input, 'a\tone\nno tab\na\tagain\nb c\tspaced\nd\tfour\n');
    const r = await encode(input, output, ['--skip-invalid']);
    expect(r.code).toBe(0);
    for (const line of [2, 3, 4]) expect(r.stderr).toContain(`skipped ${input}:${line}: `);
    expect(r.stderr).toContain('skipped 3 invalid lines (--skip-invalid)');
    const rows = (await readFile(output, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { id: string }).id);
    expect(rows).toEqual(['a', 'd']);
  });
});
