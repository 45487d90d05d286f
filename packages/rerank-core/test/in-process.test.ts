import { describe, expect, it } from 'vitest';
import { MemoryVectorStore } from '@dotrank/vector-cache';
import { InProcessReranker } from '../src/in-process.js';
import { RerankAbortedError, RerankTimeoutError } from '../src/errors.js';
import { warmPassages } from '../src/pipeline.js';
import { FakeEncoder } from './fake-encoder.js';

const candidates = Array.from({ length: 10 }, (_, i) => ({
  id: `p${i}`,
  text: `passage number ${i} about flow`,
  score: 10 - i,
}));

describe('InProcessReranker behaviour', () => {
  it('fusion bm25 runs no model and keeps the first-stage order', async () => {
    const encoder = new FakeEncoder();
    const r = await new InProcessReranker({ encoder, store: new MemoryVectorStore() }).rerank({
      query: 'flow',
      candidates,
      fusion: 'bm25',
      k: 3,
    });
    expect(encoder.queryCalls + encoder.passageCalls).toBe(0);
    expect(r.results.map((x) => [x.id, x.rank, x.score, x.bm25Score, x.tasbScore])).toEqual([
      ['p0', 1, 10, 10, undefined],
      ['p1', 2, 9, 9, undefined],
      ['p2', 3, 8, 8, undefined],
    ]);
    expect(r.cache).toEqual({ hits: 0, misses: 0 });
  });

  it('throws a timeout error (code timeout) when the deadline passes', async () => {
    const encoder = new FakeEncoder();
    encoder.delayMs = 300;
    const reranker = new InProcessReranker({ encoder, store: new MemoryVectorStore() });
    const error = await reranker
      .rerank({ query: 'flow', candidates, fusion: 'tasb' }, { deadlineMs: 50 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RerankTimeoutError);
    expect((error as RerankTimeoutError).code).toBe('timeout');
  });

  it('stops when the signal aborts', async () => {
    const encoder = new FakeEncoder();
    encoder.delayMs = 200;
    const controller = new AbortController();
    const pending = new InProcessReranker({ encoder, store: new MemoryVectorStore() }).rerank(
      { query: 'flow', candidates, fusion: 'rrf' },
      { signal: controller.signal },
    );
    controller.abort('client went away');
    await expect(pending).rejects.toBeInstanceOf(RerankAbortedError);
  });

  it('rejects invalid requests with a ValidationError naming the field', async () => {
    const reranker = new InProcessReranker({
      encoder: new FakeEncoder(),
      store: new MemoryVectorStore(),
      maxCandidates: 5,
    });
    await expect(reranker.rerank({ query: 'flow', candidates, fusion: 'tasb' })).rejects.toThrow(
      /candidates: must hold at most 5 candidates/,
    );
  });

  it('warmPassages encodes misses, skips cached ones and blank passages, reports progress, keys by the passage text', async () => {
    const encoder = new FakeEncoder();
    const store = new MemoryVectorStore();
    // text is the whole passage as searched and encoded (readers already put the title in it); title is display only
    const passages = candidates.map((c, i) => ({ id: c.id, text: c.text, ...(i === 0 ? { title: 'Title' } : {}) }));
    const progress: number[] = [];
    expect(await warmPassages(passages.slice(0, 4), { encoder, store, batchSize: 3 })).toEqual({
      encoded: 4,
      skipped: 0,
      blank: 0,
    });
    expect(
      await warmPassages(passages, { encoder, store, batchSize: 3, onProgress: (p) => void progress.push(p.done) }),
    ).toEqual({ encoded: 6, skipped: 4, blank: 0 });
    expect(progress).toEqual([3, 6, 9, 10]);
    const [byText] = await store.getMany([{ id: 'p0', text: passages[0]!.text }]);
    expect(byText).toBeDefined();
    const [byTitleAndText] = await store.getMany([{ id: 'p0', text: `Title ${passages[0]!.text}` }]);
    expect(byTitleAndText).toBeUndefined();
    // a blank passage has nothing to encode: counted, never sent to the encoder
    const withBlank = [...passages, { id: 'blank', text: '   ' }];
    expect(await warmPassages(withBlank, { encoder, store, batchSize: 3 })).toEqual({
      encoded: 0,
      skipped: 10,
      blank: 1,
    });
  });
});
