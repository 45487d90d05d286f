import { describe, expect, it } from 'vitest';
import { isDotrankError } from '@dotrank/core';
import { takeEvents } from '../src/events.js';
import { MemoryExperimentStore } from '../src/store.js';
import type { Impression } from '../src/types.js';

const impression: Impression = {
  impressionId: 'imp-1',
  experiment: 'exp',
  mode: 'interleave',
  query: 'wing',
  control: ['a', 'b'],
  treatment: ['c', 'a'],
  shown: [
    { docId: 'a', system: 'bm25' },
    { docId: 'c', system: 'tasb' },
    { docId: 'b', system: 'bm25' },
  ],
  time: Date.now(),
};

async function storeWithImpression() {
  const store = new MemoryExperimentStore();
  await store.recordImpression(impression);
  return store;
}

async function fieldOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    if (isDotrankError(error)) return (error as { field?: string }).field;
    throw error;
  }
  return undefined;
}

describe('event intake', () => {
  it('takes one event or a batch, in dotrank or UBI field names, idempotent by eventId', async () => {
    const store = await storeWithImpression();
    expect(
      await takeEvents({ impressionId: 'imp-1', type: 'click', docId: 'c', position: 2, eventId: 'x1' }, store),
    ).toEqual({ accepted: 1, duplicates: 0 });
    const ubi = {
      query_id: 'imp-1',
      action_name: 'click',
      event_attributes: { object: { object_id: 'a' }, position: { ordinal: 1 } },
      position: { ordinal: 1 },
      timestamp: '2026-01-01T00:00:00Z',
      event_id: 'x2',
    };
    expect(await takeEvents([ubi, { impressionId: 'imp-1', type: 'click', docId: 'c', eventId: 'x1' }], store)).toEqual(
      {
        accepted: 1,
        duplicates: 1,
      },
    );
    const events = await store.events('exp');
    expect(events.map((e) => [e.eventId, e.docId, e.position, e.experiment])).toEqual([
      ['x1', 'c', 2, 'exp'],
      ['x2', 'a', 1, 'exp'],
    ]);
    expect(events[1]!.timestamp).toBe(Date.parse('2026-01-01T00:00:00Z'));
  });

  it('refuses unknown impressions, bad types, documents not shown and wrong positions, naming the field', async () => {
    const store = await storeWithImpression();
    const ok = { impressionId: 'imp-1', type: 'click', docId: 'a' };
    expect(await fieldOf(takeEvents({ ...ok, impressionId: 'nope' }, store))).toBe('impressionId');
    expect(await fieldOf(takeEvents({ ...ok, type: 'hover' }, store))).toBe('type');
    expect(await fieldOf(takeEvents({ query_id: 'imp-1', action_name: 'hover', docId: 'a' }, store))).toBe(
      'action_name',
    );
    expect(await fieldOf(takeEvents({ ...ok, docId: 'zzz' }, store))).toBe('docId');
    expect(await fieldOf(takeEvents({ ...ok, position: 0 }, store))).toBe('position');
    expect(await fieldOf(takeEvents({ ...ok, position: 2 }, store))).toBe('position');
    expect(await fieldOf(takeEvents({ ...ok, position: 9 }, store))).toBe('position');
    expect(await fieldOf(takeEvents({ ...ok, position: { ordinal: 1.5 } }, store))).toBe('position.ordinal');
    expect(await fieldOf(takeEvents({ ...ok, timestamp: 'yesterday' }, store))).toBe('timestamp');
    expect(await fieldOf(takeEvents([ok, { ...ok, type: 'x' }], store))).toBe('[1].type');
    expect(await fieldOf(takeEvents([], store))).toBe('body');
    expect(await fieldOf(takeEvents('click', store))).toBe('body');
    // all or nothing: the good event of the refused batch was not stored
    expect(await store.events('exp')).toEqual([]);
  });
});
