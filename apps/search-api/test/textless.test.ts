import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Candidate, SearchOptions } from '@dotrank/core';
import { tinyModelDir } from '@dotrank/core/testing';
import { loadEncoder, type Encoder } from '@dotrank/encoder';
import { InProcessReranker } from '@dotrank/rerank-core';
import { MemoryVectorStore } from '@dotrank/vector-cache';
import { buildServer } from '../src/index.js';
import { FakeSource, PASSAGES } from './fakes.js';

/** An index whose hit for p2 lacks the configured text fields: the source gives it with an empty text. */
class SourceWithTextlessHit extends FakeSource {
  override async search(query: string, options: SearchOptions): Promise<Candidate[]> {
    return (await super.search(query, options)).map((c) => (c.id === 'p2' ? { ...c, text: '' } : c));
  }
}

// Finding 9 of #18: one candidate without text used to degrade the whole /search (texts[i]: must not be empty)
describe('/search (in-process) with a candidate that has no text', () => {
  let app: FastifyInstance;
  let encoder: Encoder;
  const logLines: { msg?: string; ids?: string[] }[] = [];

  beforeAll(async () => {
    const source = new SourceWithTextlessHit();
    await source.index(PASSAGES);
    encoder = await loadEncoder(tinyModelDir(), { intraOpThreads: 1 });
    const reranker = new InProcessReranker({ encoder, store: new MemoryVectorStore({ dimension: encoder.dimension }) });
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean))
          logLines.push(JSON.parse(line) as { msg?: string });
        done();
      },
    });
    app = await buildServer(
      { source, reranker, mode: 'in-process' },
      { logger: { level: 'warn', stream }, deadlineMs: 10_000 },
    );
  });
  afterAll(async () => {
    await app?.close();
    await encoder?.close();
  });

  it('reranks the others, lists it after them, counts it in /metrics and logs it once', async () => {
    for (let round = 1; round <= 2; round++) {
      const res = await app.inject({ url: '/search?q=boundary%20layer%20flat%20plate&k=10' });
      expect(res.statusCode).toBe(200);
      const body = res.json() as {
        degraded: boolean;
        textless?: string[];
        results: { id: string; tasbScore?: number }[];
      };
      expect(body.degraded).toBe(false);
      expect(body.textless).toEqual(['p2']);
      expect(body.results.map((r) => r.id).at(-1)).toBe('p2');
      expect(body.results.filter((r) => r.tasbScore === undefined).map((r) => r.id)).toEqual(['p2']);
      const metrics = (await app.inject({ url: '/metrics' })).body;
      expect(metrics).toContain(`dotrank_rerank_textless_candidates_total ${round}`);
    }
    const warnings = logLines.filter((l) => l.msg?.startsWith('candidates without text'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.ids).toEqual(['p2']);
  });
});
