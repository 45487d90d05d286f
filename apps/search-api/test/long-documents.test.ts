import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tinyModelDir } from '@dotrank/core/testing';
import { loadEncoder, type Encoder } from '@dotrank/encoder';
import { InProcessReranker, candidateWindowsFor } from '@dotrank/rerank-core';
import { MemoryVectorStore } from '@dotrank/vector-cache';
import { buildServer } from '../src/index.js';
import { FakeSource } from './fakes.js';

const filler = (n: number) => Array.from({ length: n }, (_, i) => `page${i % 9} section text`).join(' ');
const long = `${filler(120)} wing flutter ${filler(40)}`;

describe('/search with DOTRANK_DOC_SCORE=maxp (in-process)', () => {
  let app: FastifyInstance;
  let encoder: Encoder;

  beforeAll(async () => {
    const source = new FakeSource();
    await source.index([
      { id: 'long', text: long },
      { id: 'short', text: 'wing flutter of thin panels' },
    ]);
    encoder = await loadEncoder(tinyModelDir(), { intraOpThreads: 1 });
    const windows = await candidateWindowsFor(tinyModelDir(), { docScore: 'maxp', windowTokens: 64 });
    const reranker = new InProcessReranker({
      encoder,
      store: new MemoryVectorStore({ dimension: encoder.dimension }),
      windows: windows!,
    });
    app = await buildServer({ source, reranker, mode: 'in-process' }, { logger: false, deadlineMs: 10_000 });
  });
  afterAll(async () => {
    await app?.close();
    await encoder?.close();
  });

  it('gives each result its best passage: text, offsets into the result text, and its score', async () => {
    const res = await app.inject({ url: '/search?q=wing%20flutter&k=5' });
    expect(res.statusCode).toBe(200);
    const body = res.json() as {
      degraded: boolean;
      results: {
        id: string;
        text: string;
        tasbScore: number;
        passage: { text: string; start: number; end: number; score: number };
      }[];
    };
    expect(body.degraded).toBe(false);
    for (const r of body.results) {
      expect(r.text.slice(r.passage.start, r.passage.end)).toBe(r.passage.text);
      expect(r.passage.score).toBe(r.tasbScore); // maxp: the document's score is its best window's
    }
    const longHit = body.results.find((r) => r.id === 'long')!;
    expect(longHit.passage.end - longHit.passage.start).toBeLessThan(long.length);
    expect(body.results.find((r) => r.id === 'short')!.passage).toMatchObject({ start: 0, end: 27 });
  });
});
