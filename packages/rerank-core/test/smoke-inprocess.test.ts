import { describe, expect, it } from 'vitest';
import { MemoryVectorStore } from '@dotrank/vector-cache';
import { InProcessReranker } from '../src/in-process.js';
import { FakeEncoder } from './fake-encoder.js';

describe('InProcessReranker (fake encoder)', () => {
  it('reranks by dot product and caches passage vectors', async () => {
    const encoder = new FakeEncoder(8);
    const store = new MemoryVectorStore();
    const reranker = new InProcessReranker({ encoder, store, batchSize: 2 });
    const candidates = [
      { id: 'a', text: 'alpha beta', score: 3 },
      { id: 'b', text: 'gamma delta', score: 2 },
      { id: 'c', text: 'query words here', score: 1 },
    ];
    const first = await reranker.rerank({ query: 'query words here', candidates, fusion: 'tasb' });
    expect(first.cache).toEqual({ hits: 0, misses: 3 });
    const q = (await encoder.encodeQueries(['query words here']))[0]!;
    const p = await encoder.encodePassages(candidates.map((c) => c.text));
    const expected = candidates
      .map((c, i) => ({ id: c.id, s: p[i]!.reduce((acc, v, j) => acc + v * q[j]!, 0) }))
      .sort((x, y) => y.s - x.s);
    expect(first.results.map((r) => r.id)).toEqual(expected.map((e) => e.id));
    first.results.forEach((r, i) => {
      expect(r.rank).toBe(i + 1);
      expect(r.score).toBeCloseTo(expected[i]!.s, 5);
      expect(r.tasbScore).toBe(r.score);
      expect(r.text).toBe(candidates.find((c) => c.id === r.id)!.text);
    });
    const second = await reranker.rerank({ query: 'query words here', candidates, fusion: 'tasb' });
    expect(second.cache).toEqual({ hits: 3, misses: 0 });
    expect(second.results).toEqual(first.results);
    expect(encoder.passageCalls).toBe(2 + 1); // 2 batches in the first rerank + 1 call for `expected`
  });
});
