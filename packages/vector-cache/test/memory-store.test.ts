import { describe, expect, it } from 'vitest';
import { MemoryVectorStore } from '../src/memory-store.js';

const vec = (x: number) => Float32Array.from([x, x + 1, x + 2]);

describe('MemoryVectorStore', () => {
  it('serves a vector only for the same id and text', async () => {
    const store = new MemoryVectorStore();
    await store.setMany([{ key: { id: 'a', text: 'one' }, vector: vec(1) }]);
    const [hit, changed, other] = await store.getMany([
      { id: 'a', text: 'one' },
      { id: 'a', text: 'one, edited' },
      { id: 'b', text: 'one' },
    ]);
    expect(Array.from(hit!)).toEqual([1, 2, 3]);
    expect(changed).toBeUndefined();
    expect(other).toBeUndefined();
    expect(store.stats()).toMatchObject({ hits: 1, misses: 2, entries: 1, bytesRead: 12, bytesWritten: 12 });
  });

  it('evicts the least recently used entry past maxEntries', async () => {
    const store = new MemoryVectorStore({ maxEntries: 2 });
    await store.setMany([
      { key: { id: 'a', text: 'a' }, vector: vec(1) },
      { key: { id: 'b', text: 'b' }, vector: vec(2) },
    ]);
    await store.getMany([{ id: 'a', text: 'a' }]); // a is now most recent
    await store.setMany([{ key: { id: 'c', text: 'c' }, vector: vec(3) }]);
    const [a, b, c] = await store.getMany([
      { id: 'a', text: 'a' },
      { id: 'b', text: 'b' },
      { id: 'c', text: 'c' },
    ]);
    expect(a).toBeDefined();
    expect(b).toBeUndefined();
    expect(c).toBeDefined();
    expect(store.stats().evictions).toBe(1);
  });

  it('bounds bytes too', async () => {
    const store = new MemoryVectorStore({ maxBytes: 24 });
    for (let i = 0; i < 5; i++) await store.setMany([{ key: { id: `p${i}`, text: 't' }, vector: vec(i) }]);
    expect(store.stats().entries).toBe(2);
  });

  it('refuses vectors of another dimension, naming the field', async () => {
    const store = new MemoryVectorStore({ dimension: 4 });
    await expect(store.setMany([{ key: { id: 'a', text: 'a' }, vector: vec(1) }])).rejects.toThrow(
      /vector: dimension 3, expected 4/,
    );
  });
});
