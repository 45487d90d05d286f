// The drill-down's best passages: the API's answer read, and a document's text cut around its passage.
import { describe, expect, it } from 'vitest';
import { normaliseBestPassages } from '../src/api.js';
import { passageParts } from '../src/components/Passage.js';

describe('best passages in the drill-down', () => {
  it("reads one query's passages by document, leaving out other queries' and malformed ones", () => {
    const body = {
      name: 'long',
      system: 'tasb-maxp',
      passages: [
        { qid: '1', docid: 'L7', text: 'layer', start: 9, end: 14, score: 0.5 },
        { qid: '2', docid: 'L8', text: 'x', start: 0, end: 1, score: 0.1 },
        { qid: '1', docid: 'L9', text: 'y', start: 5, end: 2, score: 0.2 },
        { qid: '1', docid: 'L10', start: 0, end: 1, score: 0.3 },
      ],
    };
    expect([...normaliseBestPassages(body, '1')]).toEqual([['L7', { text: 'layer', start: 9, end: 14, score: 0.5 }]]);
    expect(normaliseBestPassages({ passages: [] }, '1').size).toBe(0);
    expect(normaliseBestPassages(null, '1').size).toBe(0);
  });

  it('cuts the text around the passage (UTF-16 offsets), and highlights nothing when the text does not match', () => {
    const text = 'boundary layer 😀 flow over a flat plate';
    const start = text.indexOf('😀 flow');
    const passage = { text: '😀 flow', start, end: start + '😀 flow'.length, score: 1 };
    expect(passageParts(text, passage)).toEqual({
      before: 'boundary layer ',
      best: '😀 flow',
      after: ' over a flat plate',
    });
    expect(passageParts('another text entirely, changed since', passage)).toBeNull();
    expect(passageParts(text, { ...passage, end: text.length + 5 })).toBeNull();
  });
});
