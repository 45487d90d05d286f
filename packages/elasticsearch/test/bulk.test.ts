import { describe, expect, it } from 'vitest';
import { backoffMs, checkPassage, documentFor } from '../src/bulk.js';
import { resolveSourceOptions } from '../src/options.js';

describe('backoffMs', () => {
  const bulk = resolveSourceOptions({ bulk: { initialBackoffMs: 200, maxBackoffMs: 1000 } }).bulk;

  it('doubles per attempt with equal jitter: between half the cap and the cap', () => {
    expect([1, 2, 3].map((a) => backoffMs(a, bulk, () => 0))).toEqual([100, 200, 400]);
    expect([1, 2, 3].map((a) => backoffMs(a, bulk, () => 1))).toEqual([200, 400, 800]);
    expect(backoffMs(2, bulk, () => 0.5)).toBe(300);
  });

  it('never exceeds the ceiling, and waits at least Retry-After up to it', () => {
    expect(backoffMs(10, bulk, () => 1)).toBe(1000);
    expect(backoffMs(1, bulk, () => 0, 700)).toBe(700);
    expect(backoffMs(1, bulk, () => 0, 60_000)).toBe(1000);
  });
});

describe('documentFor', () => {
  it('puts title + separator + text into a single text field, metadata at the top level when asked', () => {
    const options = resolveSourceOptions({
      idField: 'doc_id',
      textFields: ['body'],
      textSeparator: ' / ',
      metadataField: null,
    });
    expect(documentFor({ id: '1', title: 'T', text: 'X', metadata: { lang: 'en' } }, options)).toEqual({
      doc_id: '1',
      body: 'T / X',
      lang: 'en',
    });
  });

  it('fails a passage whose metadata clashes with a document field', () => {
    const options = resolveSourceOptions({ metadataField: null });
    expect(checkPassage({ id: '1', text: 'x', metadata: { text: 'clash' } }, options)).toEqual({
      kind: 'fail',
      failure: { id: '1', reason: 'metadata.text: clashes with the document field "text"' },
    });
  });

  it('serializes the action and the document once, counting their NDJSON bytes', () => {
    const checked = checkPassage({ id: 'é', text: 'ü' }, resolveSourceOptions());
    expect(checked).toEqual({
      kind: 'ok',
      entry: {
        id: 'é',
        actionLine: '{"index":{"_id":"é"}}',
        documentLine: '{"id":"é","text":"ü"}',
        bytes: 22 + 23 + 2,
      },
    });
  });
});
