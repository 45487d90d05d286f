// The proxy path (response bytes -> readSearchHits) and the source path (ElasticsearchSource.search through the
// official client and @elastic/elasticsearch-mock) must turn the same hits into the same passages: one text per hit,
// so one vector-cache key wherever the hit came from.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '@dotrank/core';
import type { ResponseMeta } from '@dotrank/core';
import { createElasticsearchSource } from '../src/source.js';
import { planProxySearch } from '../src/dsl.js';
import { readSearchHits, writeSearchResponse } from '../src/response.js';
import { resolveSourceOptions } from '../src/options.js';
import type { ElasticsearchSourceOptions } from '../src/options.js';
import type { SearchHits } from '../src/response.js';
import { FakeElasticsearch } from './support/fake-es.js';

/** Hits whose text comes from nested objects, flattened dotted keys, arrays (nested ones too), numbers and booleans. */
const HITS = [
  {
    _index: 'docs',
    _id: 'a',
    _score: 7.5,
    _source: {
      title: 'Wings',
      body: { main: 'Lift on a wing.', notes: ['drag', 'stall'] },
      year: 1960,
      tags: ['aero', 2, true],
    },
  },
  {
    _index: 'docs',
    _id: 'b',
    _score: 6,
    _source: { 'body.main': 'Flat dotted key.', year: 1961.5, tags: [['nested', 'list'], 'é'] },
  },
  { _index: 'docs', _id: 'c', _score: 5.25, _source: { title: '', body: { main: 'Only body.' }, tags: [] } },
];
const RESPONSE = {
  took: 2,
  timed_out: false,
  _shards: { total: 1, successful: 1, skipped: 0, failed: 0 },
  hits: { total: { value: 3, relation: 'eq' }, max_score: 7.5, hits: HITS },
};
const OPTIONS: ElasticsearchSourceOptions = {
  textFields: ['title', 'body.main', 'body.notes', 'year', 'tags'],
  textSeparator: ' | ',
};

function readHits(options: ElasticsearchSourceOptions = OPTIONS): SearchHits {
  const read = readSearchHits(Buffer.from(JSON.stringify(RESPONSE)), resolveSourceOptions(options));
  if ('why' in read) throw new Error(read.why);
  return read;
}

describe('one passage per hit', () => {
  it('gives byte-identical ids and texts on the proxy path and the source path', async () => {
    const fake = new FakeElasticsearch();
    fake.intercept('search', () => RESPONSE);
    const config = loadConfig({ ELASTICSEARCH_URL: 'http://127.0.0.1:9200', ELASTICSEARCH_INDEX: 'docs' });
    const source = createElasticsearchSource(config, { ...OPTIONS, clientOptions: { Connection: fake.connection() } });
    try {
      const fromSource = await source.search('wing', { k: 3 });
      // the proxy plans with the source's own options, as startServer wires it
      const decision = planProxySearch(
        Buffer.from('{"query":{"match":{"text":"wing"}}}'),
        new URLSearchParams(),
        source.options,
      );
      if (!decision.rerank) throw new Error(decision.why);
      const read = readSearchHits(Buffer.from(JSON.stringify(RESPONSE)), decision.plan.passage);
      if ('why' in read) throw new Error(read.why);
      expect(read.candidates.map((c) => [c.id, Buffer.from(c.text).toString('hex'), c.score])).toEqual(
        fromSource.map((c) => [c.id, Buffer.from(c.text).toString('hex'), c.score]),
      );
      expect(read.candidates.map((c) => c.text)).toEqual([
        'Wings | Lift on a wing. | drag | stall | 1960 | aero | 2 | true',
        'Flat dotted key. | 1961.5 | nested | list | é',
        'Only body.',
      ]);
    } finally {
      await source.close();
    }
  });

  it('says why hits cannot be reranked', () => {
    const why = (response: unknown, options: ElasticsearchSourceOptions = {}) => {
      const read = readSearchHits(
        Buffer.from(typeof response === 'string' ? response : JSON.stringify(response)),
        resolveSourceOptions(options),
      );
      return 'why' in read ? read.why : 'ok';
    };
    expect(why('<html>')).toBe('response is not JSON');
    expect(why({ hits: { hits: [] } })).toBe('no hits');
    expect(why({ hits: { hits: [{ _id: 'a', _source: { text: 'x' } }] } })).toBe('a hit has no _score');
    expect(why({ hits: { hits: [{ _score: 1, _source: { text: 'x' } }] } })).toBe('a hit has no _id');
    expect(why({ hits: { hits: [{ _score: 1, _source: { text: 'x' } }] } }, { idField: 'doc.key' })).toBe(
      'a hit has neither doc.key (ELASTICSEARCH_ID_FIELD) nor an _id',
    );
    // a hit without text is a candidate (placed after the reranked ones), listed as textless
    const read = readSearchHits(
      Buffer.from(
        JSON.stringify({
          hits: {
            hits: [
              { _id: 'a', _score: 2, _source: { year: 1 } },
              { _id: 'b', _score: 1, _source: { text: 'x' } },
            ],
          },
        }),
      ),
      resolveSourceOptions({}),
    );
    if ('why' in read) throw new Error(read.why);
    expect(read.candidates.map((c) => [c.id, c.text])).toEqual([
      ['a', ''],
      ['b', 'x'],
    ]);
    expect(read.textless).toEqual(['a']);
    expect(
      why({
        hits: {
          hits: [
            { _id: 'a', _score: 1, _source: { text: 'x' } },
            { _id: 'a', _score: 1, _source: { text: 'y' } },
          ],
        },
      }),
    ).toBe('two hits have the id a');
  });
});

describe('writeSearchResponse', () => {
  const meta: ResponseMeta = {
    reranked: true,
    degraded: false,
    reason: null,
    timings: { firstStageMs: 1, rerankMs: 2, totalMs: 3 },
  };

  it('orders hits by the ranking, with the rerank score, each hit carrying its first-stage score and rank', () => {
    const out = JSON.parse(
      writeSearchResponse(
        readHits(),
        [
          { id: 'c', score: 0.9 },
          { id: 'a', score: 0.5 },
          { id: 'b', score: 0.1 },
        ],
        meta,
      ).toString(),
    );
    expect(out.hits.hits.map((h: { _id: string }) => h._id)).toEqual(['c', 'a', 'b']);
    expect(out.hits.hits[0]).toEqual({
      ...HITS[2],
      _score: 0.9,
      _dotrank: { first_stage_score: 5.25, first_stage_rank: 3 },
    });
    expect(out.hits.hits[1]._dotrank).toEqual({ first_stage_score: 7.5, first_stage_rank: 1 });
    expect(out.hits.max_score).toBe(0.9);
    expect(out.hits.total).toEqual(RESPONSE.hits.total);
    expect(out.took).toBe(2);
    expect(out._dotrank).toEqual(meta);
    expect(out.hits.hits[0]._bm25_score).toBeUndefined();
  });

  it('keeps the cluster order and scores without a ranking, and cuts to the size asked for', () => {
    const degraded: ResponseMeta = {
      reranked: false,
      degraded: true,
      reason: 'timeout',
      detail: 'rerank deadline passed',
      timings: {},
    };
    const out = JSON.parse(writeSearchResponse(readHits(), undefined, degraded, 2).toString());
    expect(out.hits.hits.map((h: { _id: string; _score: number }) => [h._id, h._score])).toEqual([
      ['a', 7.5],
      ['b', 6],
    ]);
    expect(out.hits.hits[1]._dotrank).toEqual({ first_stage_score: 6, first_stage_rank: 2 });
    expect(out.hits.max_score).toBe(7.5);
    expect(out._dotrank).toEqual(degraded);
  });
});
