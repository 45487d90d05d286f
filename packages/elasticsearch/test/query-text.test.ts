import { describe, expect, it } from 'vitest';
import { extractQueryText, queryStringText } from '../src/query-text.js';

const match = (text: string) => ({ match: { 'body.content': text } });

describe('extractQueryText', () => {
  const cases: [string, unknown, string | undefined][] = [
    ['match shorthand', match('boundary layer'), 'boundary layer'],
    ['match with options', { match: { text: { query: 'heat', operator: 'and' } } }, 'heat'],
    ['match_phrase', { match_phrase: { title: { query: 'flat plate', slop: 1 } } }, 'flat plate'],
    ['multi_match', { multi_match: { query: 'shock waves', fields: ['title^2', 'text'] } }, 'shock waves'],
    ['query_string', { query_string: { query: 'title:(boundary layer)^2 AND flow~1' } }, 'boundary layer flow'],
    ['simple_query_string', { simple_query_string: { query: '+wing* -stall | "lift drag"~2' } }, 'wing lift drag'],
    [
      'bool must/should, not filter or must_not',
      {
        bool: {
          must: [match('flat')],
          should: { multi_match: { query: 'plate' } },
          filter: [match('x')],
          must_not: match('y'),
        },
      },
      'flat plate',
    ],
    ['function_score', { function_score: { query: match('cone'), functions: [] } }, 'cone'],
    ['dis_max', { dis_max: { queries: [match('a b'), { match_phrase: { t: 'c' } }] } }, 'a b c'],
    ['constant_score', { constant_score: { filter: match('rivets') } }, 'rivets'],
    [
      'boosting positive only',
      { boosting: { positive: match('good'), negative: match('bad'), negative_boost: 0.5 } },
      'good',
    ],
    ['nested', { nested: { path: 'body', query: { bool: { must: match('deep text') } } } }, 'deep text'],
    [
      'deeply combined, each text once',
      { function_score: { query: { bool: { should: [match('shock'), { dis_max: { queries: [match('shock')] } }] } } } },
      'shock',
    ],
    ['term and range only', { bool: { must: [{ term: { lang: 'en' } }, { range: { year: { gte: 1 } } }] } }, undefined],
    ['nothing', undefined, undefined],
  ];
  for (const [name, query, text] of cases) {
    it(name, () => expect(extractQueryText(query)).toBe(text));
  }
});

describe('queryStringText', () => {
  const cases: [string, string][] = [
    ['boundary layer', 'boundary layer'],
    ['title:wing AND body.content:"flat plate"', 'wing flat plate'],
    ['(heat OR mass)^3 transfer', 'heat mass transfer'],
    ['lift NOT stall', 'lift'],
    ['lift -(stall OR buffet) drag', 'lift drag'],
    ['!spin flutter~2', 'flutter'],
    ['year:[1950 TO 1960] jets', 'jets'],
    ['_exists_:title supersonic', 'supersonic'],
    ['name:/joh?n/ rivet*', 'rivet'],
    ['wing && tail || fin', 'wing tail fin'],
    ['boundary-layer e\\:mail', 'boundary-layer e:mail'],
  ];
  for (const [query, text] of cases) {
    it(JSON.stringify(query), () => expect(queryStringText(query)).toBe(text));
  }
});
