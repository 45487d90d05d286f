import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEncoder } from '../src/encoder.js';
import type { Encoder } from '../src/encoder.js';
import { maxAbsDiff, tinyDir, tokenizerReference } from './helpers.js';

const texts = tokenizerReference()
  .items.map((i) => i.text)
  .filter((t) => t.trim() !== '')
  .slice(0, 120);

function shuffled<T>(items: readonly T[], seed: number): number[] {
  const order = items.map((_, i) => i);
  let s = seed;
  for (let i = order.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const j = s % (i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

describe('batching', () => {
  const encoders: Encoder[] = [];
  let one: Encoder;
  let baseline: Float32Array[];
  beforeAll(async () => {
    one = await loadEncoder(tinyDir, { batchSize: 1 });
    encoders.push(one);
    baseline = await one.encodePassages(texts);
  });
  afterAll(async () => {
    await Promise.all(encoders.map((e) => e.close()));
  });

  it.each([2, 7, 32, 500])('gives the same vectors with batch size %i as one text at a time', async (batchSize) => {
    const encoder = await loadEncoder(tinyDir, { batchSize });
    encoders.push(encoder);
    const vectors = await encoder.encodePassages(texts);
    expect(Math.max(...vectors.map((v, i) => maxAbsDiff(v, baseline[i]!)))).toBeLessThan(1e-5);
  });

  it('returns results in input order whatever the order of the inputs', async () => {
    const encoder = await loadEncoder(tinyDir, { batchSize: 16 });
    encoders.push(encoder);
    const order = shuffled(texts, 42);
    const vectors = await encoder.encodePassages(order.map((i) => texts[i]!));
    expect(Math.max(...order.map((original, k) => maxAbsDiff(vectors[k]!, baseline[original]!)))).toBeLessThan(1e-5);
  });

  it('handles duplicates, a single text and an empty list', async () => {
    const vectors = await one.encodePassages([texts[3]!, texts[3]!, texts[5]!]);
    expect(maxAbsDiff(vectors[0]!, vectors[1]!)).toBe(0);
    expect(maxAbsDiff(vectors[2]!, baseline[5]!)).toBeLessThan(1e-5);
    expect(await one.encodeQueries([])).toEqual([]);
  });

  it('serves concurrent calls on one encoder correctly', async () => {
    const encoder = await loadEncoder(tinyDir, { batchSize: 8 });
    encoders.push(encoder);
    const [a, b] = await Promise.all([
      encoder.encodePassages(texts.slice(0, 40)),
      encoder.encodePassages(texts.slice(40, 80)),
    ]);
    expect(Math.max(...a.map((v, i) => maxAbsDiff(v, baseline[i]!)))).toBeLessThan(1e-5);
    expect(Math.max(...b.map((v, i) => maxAbsDiff(v, baseline[40 + i]!)))).toBeLessThan(1e-5);
  });

  it('keeps the event loop free while ONNX Runtime computes (async session.run)', async () => {
    // One call = one batch of long passages and no tokenization yields (fewer than 64 texts): if inference blocked
    // the JS thread, the call would settle before the event loop could turn more than a couple of times.
    const encoder = await loadEncoder(tinyDir, { batchSize: 64 });
    encoders.push(encoder);
    const long = Array.from(
      { length: 40 },
      (_, i) => `${texts[i % texts.length]} ${'boundary layer flow '.repeat(100)}`,
    );
    let settled = false;
    const run = encoder.encodePassages(long).then((v) => {
      settled = true;
      return v;
    });
    let turns = 0;
    while (!settled) {
      await nextTurn();
      turns++;
    }
    const vectors = await run;
    expect(vectors).toHaveLength(40);
    expect(turns).toBeGreaterThan(20);
  });
});
