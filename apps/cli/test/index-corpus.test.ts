import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BM25Index } from '@dotrank/bm25';
import { repoPath } from '@dotrank/core/testing';
import { readCorpus } from '@dotrank/datasets';
import { dotrank, SPAWN_TIMEOUT } from './cli.js';
import type { CliResult } from './cli.js';

let dir: string;

/** Runs the CLI with its own data dir and without an Elasticsearch cluster, so the embedded source is the default. */
function run(args: string[]): Promise<CliResult> {
  return dotrank(args, {
    env: { DOTRANK_DATA_DIR: join(dir, 'data'), ELASTICSEARCH_URL: undefined, ELASTICSEARCH_CLOUD_ID: undefined },
    cwd: dir,
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dotrank-index-cli-'));
  await writeFile(
    join(dir, 'docs.jsonl'),
    [
      JSON.stringify({
        doc: 'p1',
        body: 'The boundary layer on a flat plate at supersonic speed.',
        heading: 'Flat plates',
      }),
      '{"doc": "broken", "body": ',
      JSON.stringify({ doc: 'p2', body: 'Heat transfer in the boundary layer of a hypersonic vehicle.' }),
      JSON.stringify({ body: 'a line without an id' }),
      JSON.stringify({ doc: 'p3', body: 'Buckling of cylindrical shells under axial compression.' }),
      '',
    ].join('\n'),
  );
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('dotrank index / search (embedded)', { timeout: SPAWN_TIMEOUT }, () => {
  it('refuses a corpus with malformed lines (exit 2, file:line, nothing written); --skip-invalid reports every skipped line', async () => {
    const args = [
      'index',
      '--collection',
      join(dir, 'docs.jsonl'),
      '--id-field',
      'doc',
      '--text-field',
      'body',
      '--title-field',
      'heading',
    ];
    const refused = await run(args);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^dotrank: .*docs\.jsonl:2: invalid JSON/m);
    await expect(stat(join(dir, 'data', 'index'))).rejects.toThrow(/ENOENT/);
    const r = await run([...args, '--skip-invalid']);
    expect(r.stderr).toMatch(/skipped .*docs\.jsonl:2: invalid JSON/);
    expect(r.stderr).toMatch(/skipped .*docs\.jsonl:4: missing id field "doc"/);
    expect(r.stderr).toMatch(/skipped 2 invalid lines \(--skip-invalid\)/);
    expect(r.stdout).toMatch(/^indexed 3, failed 0, skipped 2 in [\d.]+s -> .*index[/\\]docs\n$/);
    expect(r.code).toBe(0);
  });

  it('searches the only index in the data dir and prints the top-k with scores', async () => {
    const r = await run(['search', 'boundary layer', '--k', '5']);
    expect(r.code).toBe(0);
    const rows = r.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/rank\s+score\s+id\s+text/);
    expect(
      rows
        .slice(1)
        .map((row) => row.trim().split(/\s+/)[2])
        .sort(),
    ).toEqual(['p1', 'p2']);
    const json = await run(['search', 'boundary layer', '--json', '--index-dir', join(dir, 'data', 'index', 'docs')]);
    const results = JSON.parse(json.stdout) as Array<{ rank: number; id: string; score: number; text: string }>;
    // Same term frequencies; p1 is longer (its title is part of the text), so p2 ranks first.
    expect(results.map((x) => x.id)).toEqual(['p2', 'p1']);
    expect(results[1]!.text).toBe('Flat plates The boundary layer on a flat plate at supersonic speed.');
    expect(results[0]!.score).toBeGreaterThan(results[1]!.score);
  });

  it('refuses changed BM25 parameters for an existing index and rebuilds on request', async () => {
    const args = [
      'index',
      '--collection',
      join(dir, 'docs.jsonl'),
      '--id-field',
      'doc',
      '--text-field',
      'body',
      '--k1',
      '0.9',
      '--no-progress',
    ];
    const refused = await run(args);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^dotrank: k1: .*k1=1\.2.*k1=0\.9/m);
    expect(refused.stderr).not.toMatch(/\n\s+at /); // no stack trace
    const rebuilt = await run([...args, '--rebuild', '--json', '--skip-invalid']);
    expect(rebuilt.code).toBe(0);
    expect(JSON.parse(rebuilt.stdout)).toMatchObject({
      indexed: 3,
      failed: 0,
      skipped: 2,
      malformed: [{ line: 2 }, { line: 4 }],
    });
  });

  it('names the flag for bad input and a missing index', async () => {
    const badK = await run(['search', 'x', '--k', '0']);
    expect(badK.code).toBe(2);
    expect(badK.stderr).toMatch(/--k: must be an integer between 1 and 10000/);
    const missing = await run(['search', 'x', '--index-dir', join(dir, 'nowhere')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--index-dir: no index in/);
  });

  it('indexes a BEIR folder and returns the same top-k as the library', async () => {
    const collection = repoPath('datasets/cranfield');
    const indexDir = join(dir, 'cranfield-index');
    const r = await run(['index', '--collection', collection, '--index-dir', indexDir, '--no-progress']);
    expect(r.stdout).toMatch(/^indexed 1400, failed 0, skipped 0/);
    // Cranfield's two passages without text are indexed, with one warning naming them
    expect(
      r.stderr.match(
        /warning: 2 passages have empty or whitespace-only text \(indexed; no query can match them\): 471, 995\n/g,
      ),
    ).toHaveLength(1);
    const search = await run([
      'search',
      'what similarity laws must be obeyed when constructing aeroelastic models',
      '--k',
      '10',
      '--json',
      '--index-dir',
      indexDir,
    ]);
    const cli = (JSON.parse(search.stdout) as Array<{ id: string; score: number }>).map(({ id, score }) => ({
      id,
      score,
    }));
    const index = new BM25Index();
    for await (const p of readCorpus(collection)) index.add(p);
    const lib = index
      .search('what similarity laws must be obeyed when constructing aeroelastic models', { k: 10 })
      .map(({ id, score }) => ({ id, score }));
    expect(cli).toEqual(lib);
  });
});
