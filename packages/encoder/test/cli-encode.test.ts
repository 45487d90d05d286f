import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEncoder } from '../src/encoder.js';
import type { Encoder } from '../src/encoder.js';
import { maxAbsDiff, repoRoot, tinyDir } from './helpers.js';

/** Each CLI start runs the TypeScript sources through tsx: seconds on a busy machine, so allow minutes. */
const CLI_TIMEOUT = 300_000;
const bin = join(repoRoot, 'apps', 'cli', 'bin', 'dotrank.js');

function dotrank(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: repoRoot,
      env: { ...process.env, DOTRANK_MODEL: '', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function readJsonl(text: string): { id: string | number; vector: number[] }[] {
  return text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { id: string | number; vector: number[] });
}

describe('dotrank encode', () => {
  let dir: string;
  let encoder: Encoder;
  const passages = [
    ['d3', 'shock wave and boundary layer interaction at hypersonic speed'],
    ['d1', 'heat transfer'],
    ['d2', 'the buckling of thin cylindrical shells under axial compression and internal pressure'],
  ] as const;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dotrank-cli-encode-'));
    encoder = await loadEncoder(tinyDir);
  });
  afterAll(async () => {
    await encoder?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it(
    'encodes a TSV file to JSONL in input order, vectors equal to the library',
    async () => {
      const input = join(dir, 'passages.tsv');
      const output = join(dir, 'passages.out.jsonl');
      await writeFile(input, passages.map(([id, text]) => `${id}\t${text}`).join('\n') + '\n');
      const run = await dotrank([
        'encode',
        '--model',
        tinyDir,
        '--kind',
        'passage',
        '--in',
        input,
        '--out',
        output,
        '--batch-size',
        '2',
        '--threads',
        '1',
      ]);
      expect(run.stderr).toMatch(/encoded 3 passages/);
      expect(run.code).toBe(0);
      const rows = readJsonl(await readFile(output, 'utf8'));
      expect(rows.map((r) => r.id)).toEqual(['d3', 'd1', 'd2']);
      const expected = await encoder.encodePassages(passages.map(([, text]) => text));
      rows.forEach((row, i) => {
        expect(row.vector).toHaveLength(32);
        expect(maxAbsDiff(row.vector, expected[i]!)).toBeLessThan(1e-6);
      });
    },
    CLI_TIMEOUT,
  );

  it(
    'encodes JSONL queries (numeric ids kept, blank lines skipped) using DOTRANK_MODEL',
    async () => {
      const input = join(dir, 'queries.jsonl');
      const output = join(dir, 'queries.out.jsonl');
      await writeFile(
        input,
        ['{"id": 7, "text": "flutter of wings"}', '', '{"id": "q2", "text": "supersonic flow"}'].join('\n'),
      );
      const run = await dotrank(['encode', '--kind', 'query', '--in', input, '--out', output], {
        DOTRANK_MODEL: tinyDir,
      });
      expect(run.code).toBe(0);
      const rows = readJsonl(await readFile(output, 'utf8'));
      expect(rows.map((r) => r.id)).toEqual([7, 'q2']);
      const expected = await encoder.encodeQueries(['flutter of wings', 'supersonic flow']);
      rows.forEach((row, i) => expect(maxAbsDiff(row.vector, expected[i]!)).toBeLessThan(1e-6));
    },
    CLI_TIMEOUT,
  );

  it(
    'reports a malformed line with file and line number, exit 2, and leaves no output',
    async () => {
      const input = join(dir, 'bad.tsv');
      const output = join(dir, 'bad.out.jsonl');
      await writeFile(input, 'a\tfine text\nb\tanother\nno tab on this line\n');
      const run = await dotrank(['encode', '--model', tinyDir, '--kind', 'passage', '--in', input, '--out', output]);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(`dotrank: ${input}:3: expected "id<TAB>text" but found no tab`);
      expect(run.stderr).not.toMatch(/\n\s+at /);
      expect(existsSync(output)).toBe(false);

      const jsonl = join(dir, 'bad.jsonl');
      await writeFile(jsonl, '{"id":"a","text":"ok"}\n{"id":"b","text":\n');
      const run2 = await dotrank(['encode', '--model', tinyDir, '--kind', 'query', '--in', jsonl, '--out', output]);
      expect(run2.code).toBe(2);
      expect(run2.stderr).toContain(`${jsonl}:2: invalid JSON`);
    },
    CLI_TIMEOUT,
  );

  it(
    'names a missing model and bad flags',
    async () => {
      const input = join(dir, 'one.tsv');
      await writeFile(input, 'a\ttext\n');
      const noModel = await dotrank(['encode', '--kind', 'query', '--in', input, '--out', join(dir, 'x.jsonl')]);
      expect(noModel.code).toBe(2);
      expect(noModel.stderr).toContain('--model: required (or set DOTRANK_MODEL)');
      const badBatch = await dotrank([
        'encode',
        '--model',
        tinyDir,
        '--kind',
        'query',
        '--in',
        input,
        '--out',
        join(dir, 'x.jsonl'),
        '--batch-size',
        'many',
      ]);
      expect(badBatch.code).toBe(2);
      expect(badBatch.stderr).toContain('--batch-size: must be an integer between 1 and 4096');
      const badKind = await dotrank([
        'encode',
        '--model',
        tinyDir,
        '--kind',
        'doc',
        '--in',
        input,
        '--out',
        join(dir, 'x.jsonl'),
      ]);
      expect(badKind.code).not.toBe(0);
      expect(badKind.stderr).toMatch(/--kind.*doc.*invalid|Allowed choices are query, passage/);
    },
    CLI_TIMEOUT,
  );
});
