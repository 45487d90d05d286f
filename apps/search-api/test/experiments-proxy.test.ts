// The proxy's side of an online experiment: what a body asks for, the body the cluster sees, and the hits answered.
import { describe, expect, it } from 'vitest';
import {
  ExperimentRunner,
  MemoryExperimentStore,
  teamDraftInterleave,
  seededCoin,
  seedFrom,
} from '@dotrank/experiments';
import { interleaveWindow, readProxyExperiment, shadowHits } from '../src/experiments/proxy.js';

const runner = () =>
  new ExperimentRunner({ name: 'proxy', mode: 'off', traffic: 1, store: new MemoryExperimentStore() });

// a reranked window: best first, each hit with its first-stage rank (d1 was first in Elasticsearch)
const window = [
  { _id: 'd3', _score: 9, _dotrank: { first_stage_rank: 3 } },
  { _id: 'd1', _score: 8, _dotrank: { first_stage_rank: 1 } },
  { _id: 'd4', _score: 7, _dotrank: { first_stage_rank: 4 } },
  { _id: 'd2', _score: 6, _dotrank: { first_stage_rank: 2 } },
];

describe('proxy experiment request', () => {
  it('adopts ext.ubi.query_id and rerank.experiment, and forwards neither (an empty ext goes too)', () => {
    const body = {
      query: { match: { text: 'wing' } },
      rerank: { fusion: 'tasb', experiment: 'interleave' },
      ext: { ubi: { query_id: 'ubi-42', client_id: 'c' } },
    };
    const read = readProxyExperiment(body);
    expect(read).toEqual({
      body: { query: { match: { text: 'wing' } }, rerank: { fusion: 'tasb' } },
      requested: 'interleave',
      queryId: 'ubi-42',
    });
    expect(body.ext.ubi.query_id).toBe('ubi-42'); // the caller's object is left alone
    // another ext section is kept
    expect(readProxyExperiment({ ext: { ubi: {}, other: { a: 1 } } }).body).toEqual({ ext: { other: { a: 1 } } });
    expect(readProxyExperiment({ size: 3 })).toEqual({ body: { size: 3 } });
  });

  it('refuses a bad mode or query id naming the field', () => {
    expect(() => readProxyExperiment({ rerank: { experiment: 'ab' } })).toThrow(/interleave/);
    try {
      readProxyExperiment({ ext: { ubi: { query_id: 7 } } });
      expect.unreachable();
    } catch (error) {
      expect((error as { field?: string }).field).toBe('ext.ubi.query_id');
    }
  });
});

describe('proxy experiment hits', () => {
  it('interleaves the first-stage and reranked orders by the published algorithm, each hit with its system', async () => {
    const r = runner();
    const plan = r.plan('interleave', 'ubi-42');
    const { hits, outcome } = interleaveWindow(r, plan, 'wing', window, 3);
    const expected = teamDraftInterleave(
      ['d1', 'd2', 'd3', 'd4'].slice(0, 3),
      ['d3', 'd1', 'd4'],
      3,
      seededCoin(seedFrom('ubi-42')),
    );
    expect(hits.map((h) => [h['_id'], (h['_dotrank'] as { system: string }).system])).toEqual(
      expected.map((s) => [s.docId, s.system]),
    );
    expect(hits[0]!['_dotrank']).toMatchObject({ first_stage_rank: expect.any(Number) });
    await outcome.logged;
    const [impression] = await r.store.impressions('proxy');
    expect(impression).toMatchObject({
      impressionId: 'ubi-42',
      control: ['d1', 'd2', 'd3'],
      treatment: ['d3', 'd1', 'd4'],
    });
  });

  it('shadow answers in the cluster order at once; events are accepted before the rerank ends', async () => {
    const r = runner();
    const plan = r.plan('shadow');
    let release!: (ids: string[]) => void;
    const esOrder = [...window].sort((a, b) => a._dotrank.first_stage_rank - b._dotrank.first_stage_rank);
    const { hits } = shadowHits(r, plan, 'wing', esOrder, 2, () => new Promise((done) => (release = done)));
    expect(hits.map((h) => [h['_id'], (h['_dotrank'] as { system: string }).system])).toEqual([
      ['d1', 'bm25'],
      ['d2', 'bm25'],
    ]);
    expect((await r.store.getImpressions([plan.impressionId])).has(plan.impressionId)).toBe(true);
    expect(await r.store.impressions('proxy')).toEqual([]);
    release(['d2', 'd1']);
    await r.settled();
    expect((await r.store.impressions('proxy'))[0]).toMatchObject({ control: ['d1', 'd2'], treatment: ['d2', 'd1'] });
  });
});
