import { describe, expect, it } from 'vitest';
import { ValidationError } from '@dotrank/core';
import { extractQueryText, planProxySearch, readRerankSection, readRetriever } from '../src/dsl.js';
import { resolveSourceOptions } from '../src/options.js';
import type { ProxySearchDecision } from '../src/dsl.js';

const passage = resolveSourceOptions();
const plan = (body: unknown, qs = ''): ProxySearchDecision =>
  planProxySearch(
    Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
    new URLSearchParams(qs),
    passage,
  );

function validationField(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).field;
  }
  throw new Error('expected a ValidationError');
}

describe('extractQueryText', () => {
  it('finds match, multi_match and query_string text, also inside bool.must/should, never in filters', () => {
    expect(extractQueryText({ match: { text: 'boundary layer' } })).toBe('boundary layer');
    expect(extractQueryText({ match: { text: { query: 'heat', operator: 'and' } } })).toBe('heat');
    expect(extractQueryText({ multi_match: { query: 'shock waves', fields: ['title', 'text'] } })).toBe('shock waves');
    expect(extractQueryText({ query_string: { query: 'wings' } })).toBe('wings');
    expect(
      extractQueryText({
        bool: {
          must: [{ match: { text: 'flat' } }],
          should: { multi_match: { query: 'plate' } },
          filter: [{ match: { topic: 'flow' } }],
        },
      }),
    ).toBe('flat plate');
    expect(extractQueryText({ term: { topic: 'flow' } })).toBeUndefined();
    expect(extractQueryText(undefined)).toBeUndefined();
  });
});

describe('readRerankSection', () => {
  it('reads query, fusion, field(s) and window', () => {
    expect(readRerankSection({ query: 'q', fusion: 'rrf', field: 'body', window: 50 })).toEqual({
      query: 'q',
      fusion: 'rrf',
      textFields: ['body'],
      window: 50,
    });
    expect(readRerankSection({ fields: ['a', 'b'] })).toEqual({ textFields: ['a', 'b'] });
    expect(readRerankSection({})).toEqual({});
  });

  it('names the bad field instead of ignoring it', () => {
    expect(validationField(() => readRerankSection('tasb'))).toBe('rerank');
    expect(validationField(() => readRerankSection({ fusion: 'bogus' }))).toBe('rerank.fusion');
    expect(validationField(() => readRerankSection({ query: ' ' }))).toBe('rerank.query');
    expect(validationField(() => readRerankSection({ fields: [] }))).toBe('rerank.fields');
    expect(validationField(() => readRerankSection({ field: 3 }))).toBe('rerank.field');
    expect(validationField(() => readRerankSection({ window: 2.5 }))).toBe('rerank.window');
  });
});

describe('readRetriever', () => {
  it('reads the standard retriever and leaves the others for later', () => {
    expect(readRetriever({ standard: { query: { match: { text: 'x' } } } })).toEqual({
      query: { match: { text: 'x' } },
    });
    expect(readRetriever({ standard: { query: {}, sort: ['year'] } })).toEqual({ why: 'retriever.standard.sort' });
    expect(readRetriever({ rrf: { retrievers: [] } })).toEqual({ why: 'retriever rrf is not read yet' });
  });
});

describe('planProxySearch', () => {
  it('plans the window (default 100) and the page, keeping the request without from/size as the window key', () => {
    const decision = plan({ query: { match: { text: 'boundary layer' } }, size: 3, from: 6 }, 'typed_keys=true&size=9');
    if (!decision.rerank) throw new Error(decision.why);
    expect(decision.plan).toMatchObject({
      kind: 'section',
      query: 'boundary layer',
      fusion: 'tasb',
      window: 100,
      from: 6,
      size: 3,
      continuesPastWindow: true,
      scoreMapping: 'raw',
      firstStage: { query: { match: { text: 'boundary layer' } } },
      keyRequest: { query: { match: { text: 'boundary layer' } } },
    });
    expect(decision.plan.params.toString()).toBe('typed_keys=true');
    expect(decision.plan.passage).toBe(passage);
  });

  it('strips the rerank section from the first stage, keeps it in the key and reads its window', () => {
    const decision = plan({
      query: { term: { topic: 'flow' } },
      size: 5,
      rerank: { query: 'flat plate', fusion: 'rrf', field: 'text', window: 40 },
    });
    if (!decision.rerank) throw new Error(decision.why);
    expect(decision.plan.firstStage).toEqual({ query: { term: { topic: 'flow' } } });
    expect(decision.plan.keyRequest).toEqual({
      query: { term: { topic: 'flow' } },
      rerank: { query: 'flat plate', fusion: 'rrf', field: 'text', window: 40 },
    });
    expect(decision.plan).toMatchObject({ query: 'flat plate', fusion: 'rrf', size: 5, window: 40 });
    expect(decision.plan.passage.textFields).toEqual(['text']);
    expect(decision.plan.passage.textSeparator).toBe(passage.textSeparator);
  });

  it('names a bad from or size', () => {
    expect(validationField(() => plan({ query: { match: { text: 'x' } }, from: -1 }))).toBe('from');
    expect(validationField(() => plan({ query: { match: { text: 'x' } } }, 'size=ten'))).toBe('size');
  });

  it('reads the query of a standard retriever, and the q parameter of a URI search', () => {
    const retriever = plan({ retriever: { standard: { query: { match: { text: 'wings' } } } } });
    expect(retriever.rerank && retriever.plan.query).toBe('wings');
    const uri = plan('', 'q=boundary');
    expect(uri.rerank && uri.plan.query).toBe('boundary');
  });

  it('passes through what it cannot rerank, saying why', () => {
    const why = (body: unknown, qs = '') => {
      const decision = plan(body, qs);
      return decision.rerank ? 'reranked' : decision.why;
    };
    const q = { match: { text: 'x' } };
    expect(why({ size: 0, aggs: {} })).toBe('size 0');
    expect(why({ query: q, sort: ['year'] })).toBe('sort');
    expect(why({ query: q }, 'scroll=1m')).toBe('scroll in query string');
    expect(why({ query: q, from: 10 })).toBe('reranked');
    expect(why({ query: q, _source: false })).toBe('_source false');
    expect(why({ query: q, _source: ['year'] })).toBe('_source excludes the text fields');
    expect(why({ query: q, _source: ['ti*'] })).toBe('reranked');
    expect(why({ query: { term: { topic: 'flow' } } })).toBe('no query text');
    expect(why({ retriever: { rrf: {} } })).toBe('retriever rrf is not read yet');
    expect(why('not json')).toBe('body is not JSON');
    expect(why([1])).toBe('body is not an object');
  });

  it('rejects a malformed rerank section with the field named', () => {
    expect(validationField(() => plan({ query: { match: { text: 'x' } }, rerank: { fusion: 'nope' } }))).toBe(
      'rerank.fusion',
    );
  });
});
