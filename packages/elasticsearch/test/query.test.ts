import { describe, expect, it } from 'vitest';
import { ValidationError } from '@dotrank/core';
import { buildSearchBody, filterClauses, passageFromHit } from '../src/query.js';
import { resolveSourceOptions } from '../src/options.js';

describe('buildSearchBody', () => {
  it('uses multi_match over title and text by default, only the needed _source fields, no total hits', () => {
    expect(buildSearchBody('boundary layer', { k: 5 })).toEqual({
      size: 5,
      track_total_hits: false,
      _source: { includes: ['title', 'text', 'metadata'] },
      query: {
        multi_match: { query: 'boundary layer', fields: ['title', 'text'], type: 'best_fields', operator: 'or' },
      },
    });
  });

  it('uses match for one unboosted field', () => {
    expect(
      buildSearchBody('wing flutter', { k: 3 }, { searchFields: ['body'], textFields: ['body'], metadataField: null }),
    ).toEqual({
      size: 3,
      track_total_hits: false,
      _source: { includes: ['body'] },
      query: { match: { body: { query: 'wing flutter', operator: 'or' } } },
    });
  });

  it('keeps field boosts, the multi_match type and operator', () => {
    const body = buildSearchBody(
      'shock',
      { k: 10 },
      { searchFields: ['title^2', 'text'], multiMatchType: 'most_fields', operator: 'and' },
    );
    expect(body.query).toEqual({
      multi_match: { query: 'shock', fields: ['title^2', 'text'], type: 'most_fields', operator: 'and' },
    });
    // A single boosted field still needs multi_match to carry the boost.
    expect(buildSearchBody('shock', { k: 1 }, { searchFields: ['title^3'] }).query).toEqual({
      multi_match: { query: 'shock', fields: ['title^3'], type: 'best_fields', operator: 'or' },
    });
  });

  it('puts the SearchFilter (term/terms) and the raw filter clauses in bool.filter', () => {
    const body = buildSearchBody(
      'heat',
      { k: 7, filter: { topic: 'flow', year: [1960, 1961], public: true } },
      { filter: { range: { 'metadata.year': { gte: 1950 } } }, idField: 'doc_id', metadataFields: ['lang'] },
    );
    expect(body).toEqual({
      size: 7,
      track_total_hits: false,
      _source: { includes: ['title', 'text', 'doc_id', 'metadata', 'lang'] },
      query: {
        bool: {
          must: [{ multi_match: { query: 'heat', fields: ['title', 'text'], type: 'best_fields', operator: 'or' } }],
          filter: [
            { term: { 'metadata.topic': 'flow' } },
            { terms: { 'metadata.year': [1960, 1961] } },
            { term: { 'metadata.public': true } },
            { range: { 'metadata.year': { gte: 1950 } } },
          ],
        },
      },
    });
  });

  it('filters on top-level fields when metadataField is null', () => {
    expect(filterClauses({ lang: ['en', 'fr'] }, { metadataField: null })).toEqual([{ terms: { lang: ['en', 'fr'] } }]);
  });

  it('rejects bad input naming the field', () => {
    const fails = (fn: () => unknown, field: string) => {
      try {
        fn();
      } catch (error) {
        expect(error).toBeInstanceOf(ValidationError);
        expect((error as ValidationError).field).toBe(field);
        return;
      }
      throw new Error(`expected a ValidationError on ${field}`);
    };
    fails(() => buildSearchBody('  ', { k: 1 }), 'query');
    fails(() => buildSearchBody('x', { k: 0 }), 'k');
    fails(() => buildSearchBody('x', { k: 10_001 }), 'k');
    fails(() => buildSearchBody('x', { k: 2.5 }), 'k');
    fails(() => buildSearchBody('x', { k: 1, filter: { topic: { nested: 1 } as never } }), 'filter.topic');
    fails(() => buildSearchBody('x', { k: 1 }, { searchFields: ['title^x'] }), 'searchFields');
    fails(() => buildSearchBody('x', { k: 1 }, { searchFields: [] }), 'searchFields');
    fails(() => buildSearchBody('x', { k: 1 }, { filter: {} }), 'filter');
    fails(() => buildSearchBody('x', { k: 1 }, { operator: 'xor' as never }), 'operator');
  });
});

describe('passageFromHit', () => {
  it('assembles title + " " + text and reads metadata from the metadata object', () => {
    const hit = {
      _id: '17',
      _source: { title: 'On wings', text: 'Lift and drag.', metadata: { topic: 'flow', year: 1960, nested: { x: 1 } } },
    };
    expect(passageFromHit(hit)).toEqual({
      id: '17',
      text: 'On wings Lift and drag.',
      metadata: { topic: 'flow', year: 1960 },
    });
  });

  it('leaves out missing or empty fields, joins arrays, reads nested and dotted paths', () => {
    const options = {
      idField: 'doc.id',
      textFields: ['doc.title', 'body', 'tags'],
      textSeparator: ' | ',
      metadataField: null,
      metadataFields: ['lang'],
    };
    expect(
      passageFromHit(
        { _id: 'es-1', _source: { doc: { id: 42, title: '' }, body: 'Text.', tags: ['a', 'b'], lang: 'en' } },
        options,
      ),
    ).toEqual({
      id: '42',
      text: 'Text. | a | b',
      metadata: { lang: 'en' },
    });
    expect(passageFromHit({ _id: 'es-2', _source: { 'doc.title': 'Flat key', body: 'B' } }, options)).toEqual({
      id: 'es-2',
      text: 'Flat key | B',
    });
  });

  it('accepts resolved options', () => {
    const resolved = resolveSourceOptions({ textFields: ['text'] }, 'idx');
    expect(passageFromHit({ _id: 'a', _source: { title: 'ignored', text: 'kept' } }, resolved)).toEqual({
      id: 'a',
      text: 'kept',
    });
  });
});
