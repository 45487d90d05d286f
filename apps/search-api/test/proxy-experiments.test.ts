// Online experiments through the `_search` proxy, over the stand-in Elasticsearch: `rerank.experiment` and a UBI
// `ext.ubi.query_id` are read and never forwarded; interleave answers the team-draft list with each hit's system;
// shadow answers in Elasticsearch order at once, takes events on it at once, and logs the rerank when it ends.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MemoryWindowStore, sourceOptionsFromConfig } from '@dotrank/elasticsearch';
import { startStandInElasticsearch } from '@dotrank/elasticsearch/testing';
import type { StandInElasticsearch } from '@dotrank/elasticsearch/testing';
import { seedFrom, seededCoin, teamDraftInterleave } from '@dotrank/experiments';
import { buildServer } from '../src/index.js';
import { FakeReranker, FakeSource } from './fakes.js';

const WORDS = ['wing', 'flutter', 'panel', 'shock', 'cone', 'plate'];
const DOCS = Array.from({ length: 10 }, (_, i) => ({
  _id: `d${i}`,
  // lengths differ, so the fake reranker (shorter text first) disagrees with BM25
  _source: { body: { content: `wing ${WORDS[i % 6]} ${'wing '.repeat(i % 3)}${'study '.repeat((i * 7) % 5)}${i}` } },
}));

interface Hit {
  _id: string;
  _dotrank: { system?: string; first_stage_rank?: number };
}
interface Page {
  hits: { hits: Hit[] };
  _dotrank: { reranked: boolean; impression_id?: string };
}

let es: StandInElasticsearch;
let app: FastifyInstance;
const reranker = new FakeReranker();
const forwarded: string[] = [];

async function search(body: unknown): Promise<Page> {
  const res = await app.inject({ method: 'POST', url: '/docs/_search', payload: body as object });
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as Page;
}
const esOrder = async (size: number) => {
  const res = await fetch(`${es.url}/docs/_search`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: { match: { 'body.content': 'wing flutter' } }, size }),
  });
  return ((await res.json()) as Page).hits.hits.map((h) => h._id);
};
const QUERY = { match: { 'body.content': 'wing flutter' } };

beforeAll(async () => {
  es = await startStandInElasticsearch({
    indices: { docs: { documents: DOCS } },
    intercept: (request) => {
      if (request.path.includes('_search')) forwarded.push(request.body);
      return undefined;
    },
  });
  const config = { ELASTICSEARCH_TEXT_FIELDS: ['body.content'] };
  app = await buildServer(
    {
      source: new FakeSource(),
      reranker,
      mode: 'in-process',
      proxy: {
        url: es.url,
        indices: ['docs'],
        passage: sourceOptionsFromConfig(config, 'docs'),
        passageFor: (index) => sourceOptionsFromConfig(config, index),
        windowStore: new MemoryWindowStore(),
        modelRevision: 'fake',
      },
    },
    { logger: false, deadlineMs: 30_000 },
  );
}, 60_000);

afterAll(async () => {
  await app?.close();
  await es?.close();
});

beforeEach(() => {
  forwarded.length = 0;
  reranker.calls = [];
  reranker.delayMs = 0;
});

describe('the _search proxy in an experiment', () => {
  it('interleave: adopts the UBI query id, forwards no ext.ubi, and answers the team-draft list with systems', async () => {
    const page = await search({
      query: QUERY,
      size: 4,
      rerank: { experiment: 'interleave' },
      ext: { ubi: { query_id: 'ubi-proxy-1' } },
    });
    expect(page._dotrank).toMatchObject({ reranked: true, impression_id: 'ubi-proxy-1' });
    expect(forwarded.length).toBeGreaterThan(0);
    for (const body of forwarded) {
      expect(JSON.parse(body)).not.toHaveProperty('ext');
      expect(body).not.toContain('experiment');
    }
    const control = (await esOrder(10)).slice(0, 4);
    const candidates = reranker.calls.at(-1)!.candidates;
    const treatment = [...candidates]
      .sort((a, b) => a.text.length - b.text.length)
      .slice(0, 4)
      .map((c) => c.id);
    const expected = teamDraftInterleave(control, treatment, 4, seededCoin(seedFrom('ubi-proxy-1')));
    expect(page.hits.hits.map((h) => [h._id, h._dotrank.system])).toEqual(expected.map((s) => [s.docId, s.system]));
    await app.experiments.settled();
    const [impression] = (await app.experiments.store.impressions('default')).filter(
      (i) => i.impressionId === 'ubi-proxy-1',
    );
    expect(impression).toMatchObject({ mode: 'interleave', control, treatment });
  });

  it('strips ext.ubi from a search that passes through unreranked too (an empty ext goes)', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/docs/_search',
      payload: { query: QUERY, sort: [{ _id: 'asc' }], ext: { ubi: { query_id: 'ubi-proxy-2' } } },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(forwarded.map((b) => JSON.parse(b))).toEqual([{ query: QUERY, sort: [{ _id: 'asc' }] }]);
  });

  it('shadow: Elasticsearch order at once, events accepted at once, the rerank logged after the answer', async () => {
    reranker.delayMs = 1500;
    const page = await search({ query: QUERY, size: 3, rerank: { experiment: 'shadow' } });
    // answered before the (slow) rerank ended: not reranked, and the impression not yet in the log
    expect(page._dotrank.reranked).toBe(false);
    expect(await app.experiments.store.impressions('default')).not.toContainEqual(
      expect.objectContaining({ impressionId: page._dotrank.impression_id }),
    );
    expect(page.hits.hits.map((h) => [h._id, h._dotrank.system])).toEqual((await esOrder(3)).map((id) => [id, 'bm25']));
    const impressionId = page._dotrank.impression_id!;
    const click = { impressionId, type: 'click', docId: page.hits.hits[0]!._id, position: 1 };
    const events = await app.inject({ method: 'POST', url: '/api/events', payload: click });
    expect(events.statusCode, events.body).toBe(200);
    await app.experiments.settled();
    const [impression] = (await app.experiments.store.impressions('default')).filter(
      (i) => i.impressionId === impressionId,
    );
    expect(impression).toMatchObject({ mode: 'shadow', control: await esOrder(3) });
    const reranked = [...reranker.calls.at(-1)!.candidates].sort((a, b) => a.text.length - b.text.length);
    expect(impression!.treatment).toEqual(reranked.slice(0, 3).map((c) => c.id));
  });
});
