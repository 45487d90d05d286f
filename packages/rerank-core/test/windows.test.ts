import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisUrlForTests, repoPath, tinyModelDir, uniquePrefix } from '@dotrank/core/testing';
import { loadEncoder, splitIntoWindows, TextTokenizer, type Encoder } from '@dotrank/encoder';
import { MemoryVectorStore, RedisVectorStore } from '@dotrank/vector-cache';
import { InProcessReranker } from '../src/in-process.js';
import { warmPassages } from '../src/pipeline.js';
import { candidateWindowsFor, rememberedSplits } from '../src/windows.js';
import { startRerankWorker, type RerankWorker } from '../src/processor.js';
import { QueueReranker } from '../src/producer.js';
import { FakeEncoder } from './fake-encoder.js';
import { deleteKeys, makeCandidates } from './queue-helpers.js';

let tokenizer: TextTokenizer;
beforeAll(async () => {
  tokenizer = await TextTokenizer.fromFile(join(repoPath('models/tas-b'), 'tokenizer.json'));
});
const windowsOf = (windowTokens: number, stride: number) => (text: string) =>
  splitIntoWindows(text, tokenizer, { windowTokens, stride });

const filler = (n: number, seed: string) => Array.from({ length: n }, (_, i) => `${seed}${i % 7}`).join(' ');
// the only text matching the query sits far past the first window
const buried = `${filler(60, 'plain')} wing flutter at supersonic speed ${filler(10, 'tail')}`;
const candidates = [
  { id: 'buried', text: buried, score: 1 },
  { id: 'early', text: `wing ${filler(30, 'other')}`, score: 3 },
  { id: 'short', text: 'boundary layer', score: 2 },
];
const query = 'wing flutter at supersonic speed';

describe('long documents scored from their windows (in process)', () => {
  it('under maxp ranks a document by the text past its first window and shows that passage', async () => {
    const store = new MemoryVectorStore();
    const split = windowsOf(16, 7);
    const reranker = new InProcessReranker({
      encoder: new FakeEncoder(32),
      store,
      windows: { split, docScore: 'maxp' },
    });
    const maxp = await reranker.rerank({ query, candidates, fusion: 'tasb' });
    expect(maxp.results[0]!.id).toBe('buried');
    const passage = maxp.results[0]!.passage!;
    expect(passage.text).toContain('flutter at supersonic');
    expect(buried.slice(passage.start, passage.end)).toBe(passage.text);
    expect(passage.score).toBe(maxp.results[0]!.tasbScore);
    expect(maxp.results.find((r) => r.id === 'short')!.passage).toEqual({
      text: 'boundary layer',
      start: 0,
      end: 14,
      score: maxp.results.find((r) => r.id === 'short')!.tasbScore,
    });

    const firstp = await new InProcessReranker({
      encoder: new FakeEncoder(32),
      store,
      windows: { split, docScore: 'firstp' },
    }).rerank({ query, candidates, fusion: 'tasb' });
    const buriedFirst = firstp.results.find((r) => r.id === 'buried')!;
    const [q] = await new FakeEncoder(32).encodeQueries([query]);
    const [firstWindow] = await new FakeEncoder(32).encodePassages([split(buried)[0]!.text]);
    expect(buriedFirst.tasbScore).toBeCloseTo(
      firstWindow!.reduce((acc, x, j) => acc + x * q![j]!, 0),
      4,
    );
    expect(buriedFirst.tasbScore!).toBeLessThan(maxp.results[0]!.tasbScore!);
    expect(firstp.cache.misses).toBe(0); // every window was cached by the first rerank
  });

  it('at the default 256-token windows, ranks a document by text past its first 256 tokens and shows it', async () => {
    const split = windowsOf(256, 128);
    const far = `${filler(300, 'plain')} wing flutter at supersonic speed ${filler(20, 'tail')}`;
    expect(tokenizer.pieces(far.slice(0, far.indexOf('wing'))).length).toBeGreaterThan(256);
    const docs = [
      { id: 'far', text: far, score: 1 },
      { id: 'near', text: `wing ${filler(300, 'other')}`, score: 2 },
    ];
    const encoder = new FakeEncoder(32);
    const maxp = new InProcessReranker({
      encoder,
      store: new MemoryVectorStore(),
      windows: { split, docScore: 'maxp' },
    });
    const result = await maxp.rerank({ query, candidates: docs, fusion: 'tasb' });
    expect(result.results[0]!.id).toBe('far');
    expect(result.results[0]!.passage!.text).toContain('wing flutter at supersonic speed');
    const first = new InProcessReranker({ encoder, store: new MemoryVectorStore() });
    const truncated = await first.rerank({ query, candidates: docs, fusion: 'tasb' });
    expect(truncated.results.find((r) => r.id === 'far')!.passage).toBeUndefined();
  });

  it('caches each window under its own hash: a change in the last window re-encodes that window only', async () => {
    const store = new MemoryVectorStore();
    const encoder = new FakeEncoder(32);
    const split = windowsOf(16, 14);
    const reranker = new InProcessReranker({ encoder, store, windows: { split, docScore: 'maxp' } });
    const doc = { id: 'd', text: `${filler(50, 'x')} final words`, score: 1 };
    const windows = split(doc.text);
    expect(windows.length).toBeGreaterThan(3);
    expect((await reranker.rerank({ query, candidates: [doc], fusion: 'tasb' })).cache.misses).toBe(windows.length);
    const changed = { ...doc, text: `${filler(50, 'x')} final changed` };
    const again = await reranker.rerank({ query, candidates: [changed], fusion: 'tasb' });
    expect(again.cache).toEqual({ hits: windows.length - 1, misses: 1 });
  });
});

describe('warming long documents', () => {
  it('caches every window, so that a windowed rerank of the same documents reads them all', async () => {
    const store = new MemoryVectorStore();
    const encoder = new FakeEncoder(32);
    const split = windowsOf(16, 7);
    const progress: number[] = [];
    const docs = [...candidates, { id: 'blank', text: '  ', score: 0 }];
    const warmed = await warmPassages(docs, {
      encoder,
      store,
      windows: { split, docScore: 'maxp' },
      batchSize: 4,
      total: docs.length,
      onProgress: ({ done }) => void progress.push(done),
    });
    const windowCount = candidates.reduce((n, c) => n + split(c.text).length, 0);
    expect(warmed).toEqual({ encoded: windowCount, skipped: 0, blank: 1 });
    expect(progress.at(-1)).toBe(docs.length);
    const reranked = await new InProcessReranker({ encoder, store, windows: { split, docScore: 'maxp' } }).rerank({
      query,
      candidates,
      fusion: 'tasb',
    });
    expect(reranked.cache).toEqual({ hits: windowCount, misses: 0 });
  });
});

interface WindowsInput {
  query: string;
  windowTokens: number;
  stride: number;
  docs: { id: string; text: string; windows: { start: number; end: number }[] }[];
}
interface WindowsReference {
  docs: { id: string; windowScores: number[]; docScores: Record<string, number> }[];
}
const fixture = <T>(name: string) =>
  JSON.parse(readFileSync(repoPath(`tools/fixtures/reference/${name}`), 'utf8')) as T;

describe('document scores against PyTorch (tiny model, tools/fixtures/make_window_reference.py)', () => {
  const input = fixture<WindowsInput>('windows-input.json');
  const reference = fixture<WindowsReference>('windows.json');
  let encoder: Encoder;
  beforeAll(async () => {
    encoder = await loadEncoder(tinyModelDir());
  });
  afterAll(async () => encoder.close());

  it('splits the reference texts into the same windows as when the reference was made', () => {
    const split = windowsOf(input.windowTokens, input.stride);
    for (const doc of input.docs)
      expect(
        split(doc.text).map(({ start, end }) => ({ start, end })),
        doc.id,
      ).toEqual(doc.windows);
  });

  it.each(['firstp', 'maxp', 'sump', 'meanp', 'kmax:2'])(
    '%s equals the PyTorch windows aggregate',
    async (docScore) => {
      const split = windowsOf(input.windowTokens, input.stride);
      const reranker = new InProcessReranker({ encoder, store: new MemoryVectorStore(), windows: { split, docScore } });
      const candidates = input.docs.map((d, i) => ({ id: d.id, text: d.text, score: i }));
      const result = await reranker.rerank({ query: input.query, candidates, fusion: 'tasb' });
      for (const doc of reference.docs) {
        const item = result.results.find((r) => r.id === doc.id)!;
        expect(item.tasbScore, `${doc.id} ${docScore}`).toBeCloseTo(doc.docScores[docScore]!, 4);
        expect(item.passage!.score).toBeCloseTo(Math.max(...doc.windowScores), 4);
      }
    },
  );
});

describe('long documents with the ONNX model', () => {
  let encoder: Encoder;
  beforeAll(async () => {
    encoder = await loadEncoder(tinyModelDir());
  });
  afterAll(async () => encoder.close());

  it.each(['maxp', 'sump', 'meanp', 'firstp', 'kmax:2'])(
    '%s equals the aggregate of the windows encoded one by one',
    async (docScore) => {
      const split = windowsOf(24, 11);
      const reranker = new InProcessReranker({ encoder, store: new MemoryVectorStore(), windows: { split, docScore } });
      const result = await reranker.rerank({ query, candidates, fusion: 'tasb' });
      const [q] = await encoder.encodeQueries([query]);
      for (const item of result.results) {
        const windows = split(candidates.find((c) => c.id === item.id)!.text);
        const vectors = await encoder.encodePassages(windows.map((w) => w.text));
        const scores = vectors.map((v) => v.reduce((acc, x, j) => acc + x * q![j]!, 0));
        const sorted = [...scores].sort((a, b) => b - a);
        const expected = {
          maxp: sorted[0]!,
          sump: scores.reduce((a, b) => a + b, 0),
          meanp: scores.reduce((a, b) => a + b, 0) / scores.length,
          firstp: scores[0]!,
          'kmax:2': sorted.slice(0, 2).reduce((a, b) => a + b, 0) / Math.min(2, sorted.length),
        }[docScore]!;
        expect(item.tasbScore).toBeCloseTo(expected, 4);
        expect(item.passage!.score).toBeCloseTo(sorted[0]!, 4);
      }
    },
  );
});

describe('long documents through the queue', () => {
  const prefix = uniquePrefix('rerank-windows');
  let encoder: Encoder;
  let worker: RerankWorker;
  let producer: QueueReranker;
  let store: RedisVectorStore;
  const split = windowsOf(24, 11);
  const docs = makeCandidates(6, 7, 40); // 40 words each: several windows

  beforeAll(async () => {
    encoder = await loadEncoder(tinyModelDir(), { intraOpThreads: 1 });
    const options = { modelId: encoder.modelId, revision: encoder.revision, dimension: encoder.dimension };
    store = new RedisVectorStore({ url: redisUrlForTests(), keyPrefix: prefix, ...options });
    worker = await startRerankWorker({ connection: redisUrlForTests(), queuePrefix: prefix, encoder, store });
    producer = new QueueReranker({
      connection: redisUrlForTests(),
      queuePrefix: prefix,
      windows: { split, docScore: 'kmax:2' },
    });
    await producer.ready();
  });
  afterAll(async () => {
    await producer?.close();
    await worker?.close();
    await store?.close();
    await encoder?.close();
    await deleteKeys(prefix);
  });

  it('gives the in-process result: the same document scores and best passages, windows cached by their hashes', async () => {
    expect(split(docs[0]!.text).length).toBeGreaterThan(2);
    const req = { query: 'supersonic wing vibration', candidates: docs, fusion: 'tasb' as const };
    const viaQueue = await producer.rerank(req);
    const windowCount = docs.reduce((n, d) => n + split(d.text).length, 0);
    expect(viaQueue.cache).toEqual({ hits: 0, misses: windowCount });
    const local = await new InProcessReranker({
      encoder,
      store: new MemoryVectorStore(),
      windows: { split, docScore: 'kmax:2' },
    }).rerank(req);
    expect(viaQueue.results.map((r) => r.id)).toEqual(local.results.map((r) => r.id));
    viaQueue.results.forEach((r, i) => {
      expect(r.score).toBeCloseTo(local.results[i]!.score, 5);
      expect({ ...r.passage, score: 0 }).toEqual({ ...local.results[i]!.passage, score: 0 });
      expect(r.passage!.score).toBeCloseTo(local.results[i]!.passage!.score, 5);
    });
    expect((await producer.rerank(req)).cache).toEqual({ hits: windowCount, misses: 0 });
  });
});

describe('candidateWindowsFor (model directory and settings)', () => {
  it('splits with the model tokenizer at its passage length, half as stride, and none under first', async () => {
    expect(await candidateWindowsFor(tinyModelDir(), { docScore: 'first' })).toBeUndefined();
    const windows = (await candidateWindowsFor(tinyModelDir(), { docScore: 'maxp' }))!;
    expect(windows.docScore).toBe('maxp');
    const long = filler(400, 'w');
    const parts = windows.split(long);
    expect(parts.length).toBeGreaterThan(1);
    expect(tokenizer.pieces(parts[0]!.text).length).toBeLessThanOrEqual(256 - 2);
    const small = (await candidateWindowsFor(tinyModelDir(), { docScore: 'maxp', windowTokens: 34 }))!;
    const smallParts = small.split(long);
    expect(tokenizer.pieces(smallParts[0]!.text).length).toBe(32);
    const before = tokenizer.pieces(long.slice(0, smallParts[1]!.start)).length; // stride: half of 34 tokens
    expect(before).toBeGreaterThanOrEqual(17);
    expect(before).toBeLessThan(17 + tokenizer.pieces('w1').length);
  });

  it('remembers the windows of recent texts (least recently used out) instead of splitting them again', () => {
    let splits = 0;
    const split = rememberedSplits((text) => {
      splits++;
      return [{ text, start: 0, end: text.length }];
    }, 2);
    const [a, b, c] = ['alpha', 'beta', 'gamma'];
    expect(split(a)).toBe(split(a));
    split(b);
    split(a); // a is now the most recent: c pushes b out
    split(c);
    expect(splits).toBe(3);
    split(a);
    expect(splits).toBe(3);
    split(b);
    expect(splits).toBe(4);
  });

  it('refuses windows longer than the model takes and bad strides, naming the setting', async () => {
    await expect(candidateWindowsFor(tinyModelDir(), { docScore: 'maxp', windowTokens: 4096 })).rejects.toThrow(
      /DOTRANK_PASSAGE_WINDOW_TOKENS: must be at most the model's passage length/,
    );
    await expect(candidateWindowsFor(tinyModelDir(), { docScore: 'maxp', stride: 300 })).rejects.toThrow(
      /DOTRANK_PASSAGE_WINDOW_STRIDE/,
    );
    await expect(candidateWindowsFor(tinyModelDir(), { docScore: 'best' })).rejects.toThrow(/DOTRANK_DOC_SCORE/);
  });
});
