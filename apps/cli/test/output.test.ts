import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { showProgress } from '../src/lib/output.js';
import { dotrank, SPAWN_TIMEOUT } from './cli.js';

describe('showProgress', () => {
  it('draws bars on a terminal, or when asked; never with --quiet or --no-progress', () => {
    expect(showProgress({}, true)).toBe(true);
    expect(showProgress({}, false)).toBe(false);
    expect(showProgress({ progress: true }, false)).toBe(true);
    expect(showProgress({ progress: false }, true)).toBe(false);
    expect(showProgress({ quiet: true, progress: true }, true)).toBe(false);
  });
});

let dir: string;
const env = () => ({
  DOTRANK_DATA_DIR: join(dir, 'data'),
  ELASTICSEARCH_URL: undefined,
  ELASTICSEARCH_CLOUD_ID: undefined,
  DOTRANK_MODEL: undefined,
});
/** cli-progress draws its bars with these characters. */
const BAR = /[█░]/;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dotrank-output-'));
  const collection = join(dir, 'tiny');
  await mkdir(join(collection, 'qrels'), { recursive: true });
  const passages = [
    ['d1', 'Boundary layer', 'The boundary layer on a flat plate at supersonic speed.'],
    ['d2', 'Heat', 'Heat transfer in the boundary layer of a hypersonic vehicle.'],
    ['d3', 'Shells', 'Buckling of cylindrical shells under axial compression.'],
  ];
  await writeFile(
    join(collection, 'corpus.jsonl'),
    passages.map(([_id, title, text]) => JSON.stringify({ _id, title, text })).join('\n') + '\n',
  );
  await writeFile(
    join(collection, 'queries.jsonl'),
    [
      JSON.stringify({ _id: 'q1', text: 'boundary layer heat' }),
      JSON.stringify({ _id: 'q2', text: 'buckling shells' }),
    ].join('\n') + '\n',
  );
  await writeFile(join(collection, 'qrels', 'test.tsv'), 'query-id\tcorpus-id\tscore\nq1\td2\t1\nq2\td3\t1\n');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('results on stdout, notices and progress on stderr', () => {
  it(
    'eval prints only the table on stdout; "wrote ... runs" and progress go to stderr; --quiet silences stderr',
    async () => {
      const collection = join(dir, 'tiny');
      const args = (out: string) => [
        'eval',
        '--collection',
        collection,
        '--out',
        join(dir, out),
        '--systems',
        'bm25',
        '--depth',
        '10',
        '--index-dir',
        join(dir, `index-${out}`),
      ];
      const [plain, forced, quiet] = await Promise.all([
        dotrank(args('plain'), { env: env() }),
        dotrank([...args('forced'), '--progress'], { env: env() }),
        dotrank([...args('quiet'), '--quiet'], { env: env() }),
      ]);
      expect(plain.code).toBe(0);
      expect(plain.stdout).toMatch(/^system +MRR@10.*\n-+.*\nbm25 +\d/);
      expect(plain.stdout).not.toMatch(/wrote/);
      expect(plain.stderr).toMatch(/^wrote 1 runs and metrics\.json to .*plain$/m);
      expect(plain.stderr, 'stderr is a pipe here: no bars unless asked').not.toMatch(BAR);
      expect(forced.code).toBe(0);
      expect(forced.stderr).toMatch(BAR);
      expect(forced.stdout).toBe(plain.stdout.replace(/plain/g, 'forced'));
      expect(quiet).toMatchObject({ code: 0, stderr: '', stdout: plain.stdout.replace(/plain/g, 'quiet') });
      expect(await readdir(join(dir, 'quiet'))).toEqual(expect.arrayContaining(['bm25.run', 'metrics.json']));
    },
    SPAWN_TIMEOUT,
  );

  it(
    '-k is --k',
    async () => {
      await dotrank(['index', '--collection', join(dir, 'tiny'), '--index-dir', join(dir, 'k-index'), '--quiet'], {
        env: env(),
      });
      const [short, long] = await Promise.all([
        dotrank(['search', 'boundary layer', '-k', '1', '--json', '--index-dir', join(dir, 'k-index')], { env: env() }),
        dotrank(['search', 'boundary layer', '--k', '1', '--json', '--index-dir', join(dir, 'k-index')], {
          env: env(),
        }),
      ]);
      expect(short.code).toBe(0);
      expect((JSON.parse(short.stdout) as unknown[]).length).toBe(1);
      expect(short.stdout).toBe(long.stdout);
    },
    SPAWN_TIMEOUT,
  );
});
