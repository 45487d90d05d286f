// `/api/evals/:name/best-passages/:system`: the best passages `dotrank eval --doc-score` writes beside a run.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import errorsPlugin from '../src/plugins/errors.js';
import { evalsPlugin } from '../src/plugins/evals.js';

let root: string;
let app: FastifyInstance;
const best = { qid: '1', docid: 'L7', text: 'boundary layer', start: 12, end: 26, score: 0.75 };
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'dotrank-eval-passages-'));
  const out = join(root, 'long');
  await mkdir(out);
  await writeFile(join(out, 'metrics.json'), '{}');
  await writeFile(join(out, 'tasb.run'), '1 Q0 L3 1 0.9 dotrank-tasb\n');
  await writeFile(join(out, 'tasb-maxp.run'), '1 Q0 L7 1 0.75 dotrank-tasb-maxp\n');
  const other = { ...best, qid: '2', docid: 'L9' };
  await writeFile(join(out, 'tasb-maxp.passages.jsonl'), `${JSON.stringify(best)}\n${JSON.stringify(other)}\n`);
  await writeFile(join(out, 'rrf-maxp.passages.jsonl'), `${JSON.stringify(best)}\n{"qid":"2"\n`);
  app = Fastify();
  await app.register(errorsPlugin, { bodyLimit: 1024 });
  await app.register(evalsPlugin, { evalDir: root });
});
afterAll(async () => {
  await app.close();
  await rm(root, { recursive: true, force: true });
});

describe('best passages of an eval output', () => {
  it("serves one query's best passages of a windowed system, none for a system without windows", async () => {
    const one = await app.inject({ url: '/api/evals/long/best-passages/tasb-maxp?qid=1' });
    expect(one.json()).toEqual({ name: 'long', system: 'tasb-maxp', passages: [best] });
    const none = await app.inject({ url: '/api/evals/long/best-passages/tasb?qid=1' });
    expect(none.json()).toEqual({ name: 'long', system: 'tasb', passages: [] });
  });

  it('names a broken line, refuses a missing query id and paths outside the eval folder', async () => {
    const broken = await app.inject({ url: '/api/evals/long/best-passages/rrf-maxp?qid=1' });
    expect(broken.statusCode).toBe(400);
    expect(broken.body).toContain('rrf-maxp.passages.jsonl:2');
    expect((await app.inject({ url: '/api/evals/long/best-passages/tasb-maxp' })).statusCode).toBe(400);
    expect((await app.inject({ url: '/api/evals/nope/best-passages/tasb-maxp?qid=1' })).statusCode).toBe(404);
    const escape = await app.inject({ url: '/api/evals/long/best-passages/..%2Fsecret?qid=1' });
    expect(escape.statusCode).toBe(400);
  });
});
