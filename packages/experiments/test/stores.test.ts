// Both stores through the same checks; the Redis one against a real Redis under a key prefix of its own.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteKeysWithPrefix, redisUrlForTests, uniquePrefix } from '@dotrank/core/testing';
import { RedisExperimentStore } from '../src/redis-store.js';
import { MemoryExperimentStore } from '../src/store.js';
import type { ExperimentStore, StoreLimits } from '../src/store.js';
import type { ExperimentEvent, Impression } from '../src/types.js';
import { ExperimentRunner } from '../src/runner.js';
import { takeEvents } from '../src/events.js';

const impression = (id: string, time = Date.now(), experiment = 'exp'): Impression => ({
  impressionId: id,
  experiment,
  mode: 'interleave',
  query: `q ${id}`,
  control: ['a'],
  treatment: ['b'],
  shown: [
    { docId: 'a', system: 'bm25' },
    { docId: 'b', system: 'tasb' },
  ],
  time,
});

const event = (eventId: string, impressionId = 'i1', experiment = 'exp'): ExperimentEvent => ({
  eventId,
  experiment,
  impressionId,
  type: 'click',
  docId: 'a',
  timestamp: Date.now(),
});

let redis: Redis;
const prefixes: string[] = [];

beforeAll(() => {
  redis = new Redis(redisUrlForTests(), { lazyConnect: false, maxRetriesPerRequest: 1 });
});
afterAll(async () => {
  for (const prefix of prefixes) await deleteKeysWithPrefix(redis, prefix);
  redis.disconnect();
});

const makers: [string, (limits: StoreLimits, now?: () => number) => ExperimentStore][] = [
  ['memory', (limits, now) => new MemoryExperimentStore(limits, now)],
  [
    'redis',
    (limits, now) => {
      const keyPrefix = uniquePrefix('experiments');
      prefixes.push(keyPrefix);
      return new RedisExperimentStore(redis, { keyPrefix, ...limits, trimEveryMs: 0, ...(now ? { now } : {}) });
    },
  ],
];

describe.each(makers)('%s experiment store', (kind, make) => {
  it('keeps impressions and events per experiment, finds impressions by id, and drops repeated event ids', async () => {
    const store = make({ maxEvents: 1000, retentionDays: 30 });
    expect(store.kind).toBe(kind);
    await store.recordImpression(impression('i1'));
    await store.recordImpression(impression('i2'));
    await store.recordImpression(impression('j1', Date.now(), 'other'));
    expect([...(await store.getImpressions(['i1', 'nope', 'j1'])).keys()].sort()).toEqual(['i1', 'j1']);
    expect((await store.impressions('exp')).map((i) => i.impressionId)).toEqual(['i1', 'i2']);
    expect(await store.recordEvents([event('e1'), event('e2'), event('e1')])).toEqual({ accepted: 2, duplicates: 1 });
    expect(await store.recordEvents([event('e2'), event('e3', 'j1', 'other')])).toEqual({ accepted: 1, duplicates: 1 });
    expect((await store.events('exp')).map((e) => e.eventId)).toEqual(['e1', 'e2']);
    expect((await store.events('other')).map((e) => e.eventId)).toEqual(['e3']);
    expect(await store.experiments()).toEqual(['exp', 'other']);
  });

  it('caps each stream at about maxEvents', async () => {
    const store = make({ maxEvents: 10, retentionDays: 30 });
    await store.recordImpression(impression('i1'));
    for (let i = 0; i < 30; i++) await store.recordEvents(Array.from({ length: 50 }, (_, j) => event(`c${i}-${j}`)));
    const kept = (await store.events('exp')).length;
    // Redis trims whole stream nodes (MAXLEN ~, 100 entries a node): at most one node over the cap
    expect(kept).toBeGreaterThanOrEqual(10);
    expect(kept).toBeLessThanOrEqual(kind === 'redis' ? 110 : 10);
    expect((await store.events('exp')).at(-1)!.eventId).toBe('c29-49');
  });

  it('forgets records that arrived longer ago than the retention', async () => {
    // a retention of one second (Redis stream ids are the server's clock, so the test waits instead of faking it)
    const store = make({ maxEvents: 1000, retentionDays: 1 / 86_400 });
    await store.recordImpression(impression('old'));
    await store.recordEvents([event('e-old', 'old')]);
    await new Promise((r) => setTimeout(r, 1100));
    await store.recordImpression(impression('new'));
    await store.recordEvents([event('e-new', 'new')]);
    await new Promise((r) => setTimeout(r, 50)); // the trim is sent after the write
    expect((await store.impressions('exp')).map((i) => i.impressionId)).toEqual(['new']);
    expect((await store.events('exp')).map((e) => e.eventId)).toEqual(['e-new']);
    expect([...(await store.getImpressions(['old', 'new'])).keys()]).toEqual(['new']);
  });
});

describe('Redis store keys', () => {
  it('impression and event-id keys expire with the retention', async () => {
    const keyPrefix = uniquePrefix('experiments-ttl');
    prefixes.push(keyPrefix);
    const store = new RedisExperimentStore(redis, { keyPrefix, maxEvents: 100, retentionDays: 2 });
    await store.recordImpression(impression('i1'));
    await store.recordEvents([event('e1')]);
    const ttl = await redis.ttl(`${keyPrefix}:exp:{exp}:impression:i1`);
    expect(ttl).toBeGreaterThan(2 * 86_400 - 10);
    expect(ttl).toBeLessThanOrEqual(2 * 86_400);
    expect(await redis.ttl(`${keyPrefix}:exp:{exp}:event:e1`)).toBeGreaterThan(2 * 86_400 - 10);
    // another process (another store on the same Redis) finds the impression too, from Redis
    const other = new RedisExperimentStore(redis, { keyPrefix, maxEvents: 100, retentionDays: 2 });
    expect((await other.getImpressions(['i1', 'nope'])).get('i1')).toEqual(
      impression('i1', (await store.impressions('exp'))[0]!.time),
    );
    expect((await other.getImpressions(['nope'])).size).toBe(0);
  });

  it('writes impressions in the background: known at once, in Redis after the flush, drops counted', async () => {
    const keyPrefix = uniquePrefix('experiments-buffer');
    prefixes.push(keyPrefix);
    const limits = { maxEvents: 100, retentionDays: 2 };
    // a flush timer long enough that only drain() sends
    const store = new RedisExperimentStore(redis, { keyPrefix, ...limits, maxBuffered: 3, flushEveryMs: 60_000 });
    const writes = ['b1', 'b2', 'b3'].map((id) => store.recordImpression(impression(id)));
    // nothing sent yet: this process validates from memory, Redis has nothing
    expect(store.writeStats()).toEqual({ written: 0, dropped: 0, failed: 0, buffered: 3 });
    expect([...(await store.getImpressions(['b1', 'b3'])).keys()]).toEqual(['b1', 'b3']);
    expect(await redis.exists(`${keyPrefix}:exp:{exp}:impression:b1`)).toBe(0);
    // a full buffer refuses (and counts), never grows without bound
    await expect(store.recordImpression(impression('b4'))).rejects.toThrow(/buffer full.*b4 dropped/);
    await store.drain();
    await Promise.all(writes);
    expect(store.writeStats()).toEqual({ written: 3, dropped: 1, failed: 0, buffered: 0 });
    const other = new RedisExperimentStore(redis, { keyPrefix, maxEvents: 100, retentionDays: 2 });
    expect([...(await other.getImpressions(['b1', 'b2', 'b3', 'b4'])).keys()].sort()).toEqual(['b1', 'b2', 'b3']);
    expect((await other.impressions('exp')).map((i) => i.impressionId)).toEqual(['b1', 'b2', 'b3']);
  });

  it('counts and reports impressions whose write failed', async () => {
    const broken = new Redis({ port: 1, lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false });
    const store = new RedisExperimentStore(broken, {
      keyPrefix: uniquePrefix('experiments-down'),
      maxEvents: 10,
      retentionDays: 1,
    });
    await expect(store.recordImpression(impression('f1'))).rejects.toThrow();
    expect(store.writeStats()).toMatchObject({ written: 0, failed: 1, buffered: 0 });
    // an event append that fails rejects its call (the request answers an error, nothing counted as accepted)
    await expect(store.recordEvents([event('f1')])).rejects.toThrow();
    broken.disconnect();
  });

  it('shadow: an event right after the answer is accepted, before the rerank ends; the log gets both rankings', async () => {
    const keyPrefix = uniquePrefix('experiments-shadow');
    prefixes.push(keyPrefix);
    const store = new RedisExperimentStore(redis, { keyPrefix, maxEvents: 100, retentionDays: 2 });
    const r = new ExperimentRunner({ name: 'exp', mode: 'shadow', traffic: 1, store });
    let release!: (ids: string[]) => void;
    const treatment = () => new Promise<string[]>((resolve) => (release = resolve));
    const outcome = r.run({ plan: r.plan(), query: 'q', k: 2, control: ['a', 'b'], treatment });
    const click = { impressionId: outcome.impressionId, type: 'click', docId: 'a', position: 1, eventId: 's1' };
    expect(await takeEvents(click, store)).toEqual({ accepted: 1, duplicates: 0 });
    // another process sees it too once the provisional record is flushed, while the rerank still runs
    await store.drain();
    const other = new RedisExperimentStore(redis, { keyPrefix, maxEvents: 100, retentionDays: 2 });
    expect(await takeEvents({ ...click, eventId: 's2' }, other)).toEqual({ accepted: 1, duplicates: 0 });
    expect(await other.impressions('exp')).toEqual([]);
    release(['b', 'x', 'a']);
    await r.settled();
    const logged = await other.impressions('exp');
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ mode: 'shadow', control: ['a', 'b'], treatment: ['b', 'x'] });
  });
});

describe('Redis store, several API processes on one Redis', () => {
  const open = (keyPrefix: string) => new RedisExperimentStore(redis, { keyPrefix, maxEvents: 1000, retentionDays: 2 });

  it('idempotent by eventId across processes and across concurrent requests that share one append', async () => {
    const keyPrefix = uniquePrefix('experiments-dedupe');
    prefixes.push(keyPrefix);
    const [a, b] = [open(keyPrefix), open(keyPrefix)];
    await a.recordImpression(impression('i1'));
    const click = (eventId: string) => ({ impressionId: 'i1', type: 'click', docId: 'a', eventId });
    // concurrent requests to one process (appended together) and to another, overlapping ids: each id once
    const answers = await Promise.all([
      takeEvents([click('e1'), click('e2')], a),
      takeEvents([click('e2'), click('e3')], a),
      takeEvents(click('e1'), b),
      takeEvents([click('e3'), click('e4'), click('e4')], b),
    ]);
    expect(answers.reduce((n, r) => n + r.accepted, 0)).toBe(4);
    for (const [i, r] of answers.entries()) expect(r.accepted + r.duplicates, `request ${i}`).toBe([2, 2, 1, 3][i]);
    expect(answers[0]).toEqual({ accepted: 2, duplicates: 0 }); // the first in line wins its ids
    expect(answers[1]).toEqual({ accepted: 1, duplicates: 1 });
    const logged = (await b.events('exp')).map((e) => e.eventId).sort();
    expect(logged).toEqual(['e1', 'e2', 'e3', 'e4']);
    // a retry later, on either process, is a duplicate
    expect(await takeEvents([click('e4'), click('e1')], a)).toEqual({ accepted: 0, duplicates: 2 });
  });

  it('an impression looked up in Redis is remembered; an unknown one is not, nor an experiment started since', async () => {
    const keyPrefix = uniquePrefix('experiments-lookup');
    prefixes.push(keyPrefix);
    const [a, b] = [open(keyPrefix), open(keyPrefix)];
    await a.recordImpression(impression('i1'));
    const click = (impressionId: string, eventId: string) => ({ impressionId, type: 'click', docId: 'a', eventId });
    expect(await takeEvents(click('i1', 'e1'), b)).toEqual({ accepted: 1, duplicates: 0 });
    // b validates i1's next events without Redis (its key gone: still known to b until the retention passes)
    await redis.del(`${keyPrefix}:exp:{exp}:impression:i1`);
    expect(await takeEvents(click('i1', 'e2'), b)).toEqual({ accepted: 1, duplicates: 0 });
    // refused while unknown, accepted once another process logged it (a miss is never remembered)
    await expect(takeEvents(click('late', 'e3'), b)).rejects.toThrow(/impressionId: unknown impression "late"/);
    await a.recordImpression(impression('late'));
    expect(await takeEvents(click('late', 'e3'), b)).toEqual({ accepted: 1, duplicates: 0 });
    // an experiment b has never heard of, started by a third process: found through the set of names
    const c = open(keyPrefix);
    await c.recordImpression(impression('n1', Date.now(), 'newer'));
    expect(await takeEvents(click('n1', 'e4'), b)).toEqual({ accepted: 1, duplicates: 0 });
    expect((await a.events('newer')).map((e) => e.eventId)).toEqual(['e4']);
  });
});

describe('experiment runner', () => {
  const runner = (mode: 'off' | 'shadow' | 'interleave', traffic = 1) =>
    new ExperimentRunner({ name: 'exp', mode, traffic, store: new MemoryExperimentStore() });

  it('interleaves with the seeded coin of the impression id and logs the impression', async () => {
    const r = runner('interleave');
    const plan = r.plan(undefined, 'ubi-query-1');
    expect(plan).toEqual({ mode: 'interleave', impressionId: 'ubi-query-1' });
    const outcome = r.run({ plan, query: 'wing', k: 3, control: ['a', 'b', 'c', 'd'], treatment: ['c', 'e', 'a'] });
    await outcome.logged;
    const [logged] = await r.store.impressions('exp');
    expect(logged).toMatchObject({ impressionId: 'ubi-query-1', query: 'wing', control: ['a', 'b', 'c'] });
    expect(logged!.shown).toEqual(outcome.shown);
    expect(outcome.shown).toHaveLength(3);
    // the same id gives the same list
    expect(
      r.run({ plan, query: 'wing', k: 3, control: ['a', 'b', 'c', 'd'], treatment: ['c', 'e', 'a'] }).shown,
    ).toEqual(outcome.shown);
  });

  it('shadow answers with the control list at once and logs the treatment when the background rerank ends', async () => {
    const r = runner('shadow');
    let release!: (ids: string[]) => void;
    const treatment = () => new Promise<string[]>((resolve) => (release = resolve));
    const outcome = r.run({ plan: r.plan(), query: 'q', k: 2, control: ['a', 'b', 'c'], treatment });
    expect(outcome.shown).toEqual([
      { docId: 'a', system: 'bm25' },
      { docId: 'b', system: 'bm25' },
    ]);
    expect(await r.store.impressions('exp')).toEqual([]);
    release(['b', 'x', 'a']);
    await r.settled();
    expect((await r.store.impressions('exp'))[0]).toMatchObject({ mode: 'shadow', treatment: ['b', 'x'] });
  });

  it('takes the configured mode for a traffic share of requests, and a requested mode always', () => {
    expect(runner('off').plan().mode).toBe('off');
    expect(runner('off').plan('interleave').mode).toBe('interleave');
    const half = runner('interleave', 0.3);
    let inside = 0;
    for (let i = 0; i < 2000; i++) if (half.plan().mode === 'interleave') inside++;
    expect(inside).toBeGreaterThan(500);
    expect(inside).toBeLessThan(700);
    // a client id that is not a plain token is not adopted
    expect(half.plan('shadow', 'bad id with spaces').impressionId).not.toContain(' ');
  });
});
