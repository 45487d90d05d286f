// The proxy's scope (indices, request targets, other-index reads, forwarded headers), its text_similarity_reranker
// plans, _msearch bodies and reranked windows, read without a cluster.
import { describe, expect, it } from 'vitest';
import type { ValidationError } from '@dotrank/core';
import { elasticsearchRerankScore, planProxySearch } from '../src/dsl.js';
import { forwardableHeaders } from '../src/forward.js';
import { readMsearch } from '../src/msearch.js';
import { resolveSourceOptions } from '../src/options.js';
import { PASSAGE_HIGHLIGHT_FIELD, buildWindow, continuationHits, pastWindow } from '../src/page.js';
import { readSearchHits } from '../src/response.js';
import { IndexScope, ProxyError, checkBodyScope, readTarget } from '../src/scope.js';
import { MemoryWindowStore, canonicalJson, parseWindow, windowKey } from '../src/window-cache.js';

/** The error `fn` throws (the test fails when it returns). */
function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

const refusal = (fn: () => unknown): { status: number; type: string } => {
  const error = caught(fn);
  expect(error).toBeInstanceOf(ProxyError);
  const e = error as ProxyError;
  expect(e.body()).toEqual({
    error: { type: e.type, reason: e.reason, root_cause: [{ type: e.type, reason: e.reason }] },
    status: e.status,
  });
  return { status: e.status, type: e.type };
};

describe('IndexScope', () => {
  const scope = new IndexScope(['library', 'papers', 'logs-*']);
  it('serves listed names, comma lists of listed names and patterns only as listed', () => {
    for (const ok of ['library', 'library,papers', 'logs-*']) expect(scope.allows(ok)).toBe(true);
    for (const no of ['_all', '*', 'lib*', '.security-7', 'library,other', 'library,', 'logs-2024', ''])
      expect(scope.allows(no)).toBe(false);
    expect(refusal(() => scope.check('.security-7', 'index'))).toEqual({ status: 403, type: 'security_exception' });
  });
});

describe('readTarget', () => {
  it('reads /<index>/_search and _msearch with their query string', () => {
    expect(readTarget('/library/_search?typed_keys=true')).toMatchObject({ index: 'library', endpoint: '_search' });
    expect(readTarget('/library,papers/_msearch').index).toBe('library,papers');
    expect(readTarget('/_msearch')).toMatchObject({ index: '', endpoint: '_msearch' });
    expect(readTarget('/lib%20rary/_search').index).toBe('lib rary');
  });
  const probes: [string, string, number][] = [
    ['/_search with no index', '/_search', 403],
    ['a dot segment', '/../_search', 400],
    ['a dot segment inside', '/library/../_search', 400],
    ['a single dot', '/./_search', 400],
    ['an encoded slash', '/library%2F_delete_by_query/_search', 400],
    ['an encoded slash, lower case', '/library%2f_doc/_search', 400],
    ['an encoded question mark', '/library%3Fx/_search', 400],
    ['an encoded hash', '/library%23/_search', 400],
    ['an encoded dot', '/%2e%2e/_search', 400],
    ['an absolute form', 'http://evil.example/library/_search', 400],
    ['a scheme-relative form', '//evil.example/library/_search', 400],
    ['an empty segment', '/library//_search', 400],
    ['another endpoint', '/library/_delete_by_query', 400],
    ['a deeper path', '/library/_doc/_search', 400],
    ['a body in the source parameter', '/library/_search?source=%7B%7D&source_content_type=application/json', 400],
    ['a body in the source parameter of _msearch', '/_msearch?source=x', 400],
  ];
  for (const [name, target, status] of probes) {
    it(`refuses ${name}`, () => expect(refusal(() => readTarget(target)).status).toBe(status));
  }
});

describe('checkBodyScope', () => {
  const scope = new IndexScope(['library']);
  const reads: [string, unknown][] = [
    ['a terms lookup', { query: { bool: { filter: { terms: { user: { index: 'users', id: '1', path: 'f' } } } } } }],
    ['a terms lookup in aggregations', { aggs: { a: { filter: { terms: { u: { index: '.security-7' } } } } } }],
    [
      'more_like_this like._index',
      { query: { more_like_this: { fields: ['t'], like: [{ _index: 'secret', _id: '1' }] } } },
    ],
    [
      'more_like_this unlike._index',
      { query: { more_like_this: { like: 'x', unlike: { _index: 'secret', _id: '1' } } } },
    ],
    ['percolate index', { query: { percolate: { field: 'q', index: 'docs', id: '2' } } }],
    ['an indexed shape', { query: { geo_shape: { loc: { indexed_shape: { index: 'shapes', id: 'x' } } } } }],
  ];
  for (const [name, body] of reads) {
    it(`refuses ${name} of another index`, () => expect(refusal(() => checkBodyScope(scope, body)).status).toBe(403));
  }
  it('allows reads of served indices and plain terms queries', () => {
    expect(() =>
      checkBodyScope(scope, {
        query: {
          bool: { must: { terms: { tag: ['a', 'b'] } }, filter: { terms: { u: { index: 'library', id: '1' } } } },
        },
      }),
    ).not.toThrow();
  });
});

describe('forwardableHeaders', () => {
  it('passes only the allow-list, and nothing the Connection header names', () => {
    const out = forwardableHeaders({
      'content-type': 'application/json',
      accept: 'application/json',
      'x-opaque-id': 't',
      traceparent: '00-1-2-01',
      authorization: 'ApiKey own',
      cookie: 'session=1',
      'es-security-runas-user': 'elastic',
      'x-forwarded-for': '10.0.0.1',
      'x-api-key': 'dotrank',
      'content-encoding': 'gzip',
      'x-drop': '1',
      connection: 'keep-alive, x-opaque-id',
      host: 'evil',
    });
    expect(out).toEqual({
      'content-type': 'application/json',
      accept: 'application/json',
      traceparent: '00-1-2-01',
      authorization: 'ApiKey own',
    });
  });
});

describe('text_similarity_reranker plans', () => {
  const passage = resolveSourceOptions();
  const tsr = (spec: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    retriever: {
      text_similarity_reranker: {
        retriever: { standard: { query: { match: { 'body.content': 'boundary' } } } },
        field: 'body.content',
        inference_text: 'boundary layer',
        inference_id: 'dotrank',
        ...spec,
      },
    },
    ...extra,
  });
  it('runs dotrank reranker with Elasticsearch semantics', () => {
    const decision = planProxySearch(
      tsr({ rank_window_size: 20, min_score: 0.5, filter: { term: { lang: 'en' } } }, { size: 5, from: 5 }),
      new URLSearchParams(),
      passage,
    );
    if (!decision.rerank) throw new Error(decision.why);
    expect(decision.plan).toMatchObject({
      kind: 'similarity',
      query: 'boundary layer',
      window: 20,
      from: 5,
      size: 5,
      minScore: 0.5,
      continuesPastWindow: false,
      scoreMapping: 'elasticsearch',
      firstStage: {
        query: { bool: { must: [{ match: { 'body.content': 'boundary' } }], filter: [{ term: { lang: 'en' } }] } },
      },
    });
    expect(decision.plan.passage.textFields).toEqual(['body.content']);
  });
  it('defaults rank_window_size to 10, and passes other inference ids and unread inner retrievers through', () => {
    const plain = planProxySearch(tsr({}), new URLSearchParams(), passage);
    expect(plain.rerank && plain.plan.window).toBe(10);
    const other = planProxySearch(tsr({ inference_id: 'my-elser' }), new URLSearchParams(), passage);
    expect(other).toEqual({ rerank: false, why: 'retriever.text_similarity_reranker of another inference_id' });
    const custom = planProxySearch(tsr({}), new URLSearchParams(), passage, { inferenceId: 'tasb-prod' });
    expect(custom.rerank).toBe(false);
    const rrf = planProxySearch(tsr({ retriever: { rrf: { retrievers: [] } } }), new URLSearchParams(), passage);
    expect(rrf.rerank ? 'reranked' : rrf.why).toMatch(/inner retriever rrf/);
  });
  it('names the malformed field of dotrank reranker', () => {
    const field = (spec: Record<string, unknown>) =>
      (caught(() => planProxySearch(tsr(spec), new URLSearchParams(), passage)) as ValidationError).field;
    expect(field({ field: '' })).toBe('retriever.text_similarity_reranker.field');
    expect(field({ inference_text: 3 })).toBe('retriever.text_similarity_reranker.inference_text');
    expect(field({ rank_window_size: 0 })).toBe('retriever.text_similarity_reranker.rank_window_size');
    expect(field({ min_score: 'high' })).toBe('retriever.text_similarity_reranker.min_score');
    expect(field({ retriever: undefined })).toBe('retriever.text_similarity_reranker.retriever');
  });
  it('maps a raw score as Elasticsearch does since 8.16.4: max(s, 0) + min(exp(s), 1)', () => {
    expect(elasticsearchRerankScore(2.5)).toBe(3.5);
    expect(elasticsearchRerankScore(0)).toBe(1);
    expect(elasticsearchRerankScore(-1)).toBeCloseTo(Math.exp(-1), 12);
  });
});

describe('readMsearch', () => {
  it('reads header/body pairs, the header index (or the path one) and its search parameters', () => {
    const body = [
      '{"index":"library","preference":"p"}',
      '{"query":{"match":{"t":"a"}}}',
      '{}',
      '{"query":{"match":{"t":"b"}}}',
      '{"index":["library","papers"]}',
      '{}',
      '',
    ].join('\n');
    const items = readMsearch(
      Buffer.from(body),
      'papers',
      new URLSearchParams('typed_keys=true&max_concurrent_searches=2'),
    );
    expect(items.map((i) => [i.index, i.params.toString()])).toEqual([
      ['library', 'typed_keys=true&preference=p'],
      ['papers', 'typed_keys=true'],
      ['library,papers', 'typed_keys=true'],
    ]);
    expect(items[1]!.body).toEqual({ query: { match: { t: 'b' } } });
  });
  it('refuses a malformed body, naming the line', () => {
    expect(
      (caught(() => readMsearch(Buffer.from('{}\nnot json\n'), 'x', new URLSearchParams())) as ProxyError).reason,
    ).toBe('_msearch line 2: not JSON');
    expect((caught(() => readMsearch(Buffer.from('{}\n'), 'x', new URLSearchParams())) as ProxyError).reason).toMatch(
      /line 1: a header without a search body/,
    );
    expect((caught(() => readMsearch(Buffer.from('{}\n{}\n'), '', new URLSearchParams())) as ProxyError).status).toBe(
      400,
    );
  });
});

describe('reranked windows', () => {
  const response = {
    took: 2,
    hits: {
      total: { value: 40, relation: 'eq' },
      max_score: 3,
      hits: ['a', 'b', 'c'].map((id, i) => ({ _id: id, _score: 3 - i, _source: { text: `text ${id}` } })),
    },
  };
  const read = readSearchHits(Buffer.from(JSON.stringify(response)), resolveSourceOptions());
  if ('why' in read) throw new Error(read.why);
  it('orders hits by the ranking, maps scores, applies min_score and keeps the envelope', () => {
    const ranking = [
      { id: 'c', score: 2, tasbScore: 2 },
      { id: 'a', score: -3, tasbScore: -3 },
      { id: 'b', score: 0.5, tasbScore: 0.5 },
    ];
    const window = buildWindow(read, ranking, { scoreMapping: 'elasticsearch', minScore: 0.06, window: 3 });
    expect(window.hits.map((h) => [h['_id'], h['_score'], h['_dotrank']])).toEqual([
      ['c', 3, { first_stage_score: 1, first_stage_rank: 3, tasb_score: 2 }],
      ['b', 1.5, { first_stage_score: 2, first_stage_rank: 2, tasb_score: 0.5 }],
    ]);
    expect(window.ids).toEqual(['a', 'b', 'c']);
    expect(window.exhausted).toBe(false);
    expect(window.envelope).toEqual({ took: 2, hits: { total: { value: 40, relation: 'eq' }, max_score: 3 } });
    expect(parseWindow(JSON.stringify(window))).toEqual(window);
    expect(parseWindow('{"v":2}')).toBeUndefined();
    expect(parseWindow('nope')).toBeUndefined();
  });
  it("adds each hit's best passage as a highlight (merged with Elasticsearch's own) and under _dotrank", () => {
    const highlighted = {
      hits: {
        hits: [
          { _id: 'a', _score: 2, _source: { body: { content: 'one two three' } } },
          {
            _id: 'b',
            _score: 1,
            _source: { body: { content: 'four five six' } },
            highlight: { title: ['<em>five</em>'] },
          },
          {
            _id: 'c',
            _score: 0.5,
            _source: { body: { content: 'seven eight' } },
            highlight: { 'body.content': ['<em>eight</em>'] },
          },
        ],
      },
    };
    const options = resolveSourceOptions({ textFields: ['body.content'] });
    const hits = readSearchHits(Buffer.from(JSON.stringify(highlighted)), options);
    if ('why' in hits) throw new Error(hits.why);
    const passage = (text: string, start: number) => ({ text, start, end: start + text.length, score: 1 });
    const ranking = [
      { id: 'b', score: 3, tasbScore: 3, passage: passage('five six', 5) },
      { id: 'a', score: 2, tasbScore: 2, passage: passage('one', 0) },
      { id: 'c', score: 1, tasbScore: 1, passage: passage('eight', 6) },
    ];
    const plan = { scoreMapping: 'raw' as const, window: 3, passage: options };
    const window = buildWindow(hits, ranking, plan);
    expect(window.hits.map((h) => [h['_id'], h['highlight']])).toEqual([
      ['b', { title: ['<em>five</em>'], 'body.content': ['five six'] }],
      ['a', { 'body.content': ['one'] }],
      // Elasticsearch highlighted the text field itself: its fragments stay, the passage goes beside them
      ['c', { 'body.content': ['<em>eight</em>'], [PASSAGE_HIGHLIGHT_FIELD]: ['eight'] }],
    ]);
    expect(window.hits[0]!['_dotrank']).toMatchObject({ passage: passage('five six', 5) });
    // text joined from several fields: the passage is not one field's
    const joined = buildWindow(hits, ranking, {
      ...plan,
      passage: resolveSourceOptions({ textFields: ['title', 'body.content'] }),
    });
    expect(joined.hits[1]!['highlight']).toEqual({ [PASSAGE_HIGHLIGHT_FIELD]: ['one'] });
    // without passages (DOTRANK_DOC_SCORE=first) hits get no highlight
    const plain = buildWindow(
      hits,
      ranking.map(({ passage: _p, ...r }) => r),
      plan,
    );
    expect(plain.hits[1]!['highlight']).toBeUndefined();
  });
  it('continues past the window in first-stage order without the hits it holds', () => {
    const window = buildWindow(read, undefined, { scoreMapping: 'raw', window: 3 });
    expect(pastWindow(window, 0, 2, true)).toBeUndefined();
    expect(pastWindow(window, 2, 4, true)).toEqual({ from: 3, size: 3 });
    expect(pastWindow(window, 10, 10, true)).toEqual({ from: 10, size: 10 });
    expect(pastWindow(window, 2, 4, false)).toBeUndefined();
    const more = continuationHits(
      [
        { _id: 'c', _score: 1 },
        { _id: 'd', _score: 0.9 },
      ],
      3,
      window,
    );
    expect(more).toEqual([{ _id: 'd', _score: 0.9, _dotrank: { first_stage_score: 0.9, first_stage_rank: 5 } }]);
    const short = buildWindow(read, undefined, { scoreMapping: 'raw', window: 10 });
    expect(pastWindow(short, 0, 20, true)).toBeUndefined(); // the cluster had no more
  });
});

describe('window keys and the in-memory store', () => {
  const parts = {
    index: 'library',
    request: { query: { match: { t: 'x' } }, rerank: { window: 50 } },
    params: new URLSearchParams('b=2&a=1'),
    modelRevision: 'r1',
  };
  it('gives one key per request whatever its key order, and another for any other part', () => {
    const key = windowKey(parts);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(windowKey({ ...parts, request: { rerank: { window: 50 }, query: { match: { t: 'x' } } } })).toBe(key);
    expect(windowKey({ ...parts, params: new URLSearchParams('a=1&b=2') })).toBe(key);
    for (const other of [
      { index: 'papers' },
      { modelRevision: 'r2' },
      { arm: 'treatment' },
      { credential: 'abc' },
      { request: { query: { match: { t: 'y' } } } },
    ])
      expect(windowKey({ ...parts, ...other })).not.toBe(key);
    expect(canonicalJson({ b: [1, { d: 1, c: 2 }], a: null })).toBe('{"a":null,"b":[1,{"c":2,"d":1}]}');
  });
  it('evicts the least recently used entry and expires entries after their TTL', async () => {
    let now = 0;
    const store = new MemoryWindowStore(2, () => now);
    await store.set('a', '1', 10);
    await store.set('b', '2', 10);
    expect(await store.get('a')).toBe('1'); // a is now the most recent
    await store.set('c', '3', 10);
    expect(await store.get('b')).toBeUndefined();
    expect(await store.get('a')).toBe('1');
    now = 10_000;
    expect(await store.get('c')).toBeUndefined();
    expect(store.size).toBe(1);
  });
});
