import { afterEach, describe, expect, it, vi } from 'vitest';
import { MicroBatcher } from '../src/batcher.js';

/** A batcher over a fake model that records each call's items; calls run one at a time, like the encoder's. */
function recordingBatcher(waitMs: number, maxSize = 16) {
  const calls: number[][] = [];
  let slot = Promise.resolve();
  const exclusive = (task: () => Promise<void>) => (slot = slot.then(task));
  const batcher = new MicroBatcher<number, number>(
    { maxSize, waitMs },
    async (items) => {
      calls.push(items);
      return items.map((x) => x * 10);
    },
    exclusive,
  );
  return { batcher, calls };
}

/** Lets the event loop turn a few times (setImmediate stays real under the fake setTimeout). */
const turns = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

describe('MicroBatcher', () => {
  afterEach(() => vi.useRealTimers());

  it('sends a lone item at the next turn without waiting for company that never comes', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { batcher, calls } = recordingBatcher(60_000);
    // no fake time passes: only a dispatch that does not wait for the 60 s timer can answer
    expect(await batcher.submit(1)).toBe(10);
    expect(await batcher.submit(2)).toBe(20);
    expect(calls).toEqual([[1], [2]]);
  });

  it('gathers the items submitted in the same turn into one call', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { batcher, calls } = recordingBatcher(60_000);
    expect(await Promise.all([1, 2, 3].map((x) => batcher.submit(x)))).toEqual([10, 20, 30]);
    expect(calls).toEqual([[1, 2, 3]]);
  });

  it('waits up to waitMs for company once traffic is concurrent, and takes what arrived meanwhile', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { batcher, calls } = recordingBatcher(50);
    await Promise.all([1, 2].map((x) => batcher.submit(x)));
    const first = batcher.submit(3);
    let answered = false;
    void first.then(() => (answered = true));
    await turns();
    expect(answered).toBe(false);
    const second = batcher.submit(4);
    await turns();
    expect(calls).toHaveLength(1);
    vi.advanceTimersByTime(50);
    expect(await Promise.all([first, second])).toEqual([30, 40]);
    expect(calls).toEqual([
      [1, 2],
      [3, 4],
    ]);
    // the last call carried two items: still concurrent; a lone item after a lone call goes at once again
    vi.advanceTimersByTime(50);
    const lone = batcher.submit(5);
    vi.advanceTimersByTime(50);
    await lone;
    expect(await batcher.submit(6)).toBe(60);
    expect(calls.slice(2)).toEqual([[5], [6]]);
  });

  it('waitMs 0 never waits, and maxSize splits a large gathering', async () => {
    const { batcher, calls } = recordingBatcher(0, 2);
    expect(await Promise.all([1, 2, 3, 4, 5].map((x) => batcher.submit(x)))).toEqual([10, 20, 30, 40, 50]);
    expect(calls.every((c) => c.length <= 2)).toBe(true);
    expect(calls.flat()).toEqual([1, 2, 3, 4, 5]);
  });
});
