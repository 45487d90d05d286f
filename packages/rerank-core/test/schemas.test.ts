import { describe, expect, it } from 'vitest';
import { ValidationError } from '@dotrank/core';
import { parseOrThrow, rerankRequestSchema, validateRerankRequest } from '../src/schemas.js';

const ok = { query: 'flow', candidates: [{ id: 'a', text: 'x', score: 1 }], fusion: 'tasb' as const };

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).field;
  }
  return undefined;
}

describe('schemas', () => {
  it('accepts a valid request', () => {
    expect(validateRerankRequest(ok)).toEqual(ok);
  });

  it('names the field of each problem', () => {
    expect(fieldOf(() => validateRerankRequest({ ...ok, query: '   ' }))).toBe('query');
    expect(fieldOf(() => validateRerankRequest({ ...ok, query: 'x'.repeat(10 * 1024 + 1) }))).toBe('query');
    expect(fieldOf(() => validateRerankRequest({ ...ok, candidates: [] }))).toBe('candidates');
    expect(
      fieldOf(() => validateRerankRequest({ ...ok, candidates: [{ id: 'a', text: 'x', score: Number.NaN }] })),
    ).toBe('candidates.0.score');
    expect(fieldOf(() => validateRerankRequest({ ...ok, candidates: [{ id: '', text: 'x', score: 1 }] }))).toBe(
      'candidates.0.id',
    );
    expect(
      fieldOf(() =>
        validateRerankRequest({
          ...ok,
          candidates: [
            { id: 'a', text: 'x', score: 1 },
            { id: 'a', text: 'y', score: 1 },
          ],
        }),
      ),
    ).toBe('candidates.1.id');
    expect(fieldOf(() => validateRerankRequest({ ...ok, fusion: 'magic' }))).toBe('fusion');
    expect(fieldOf(() => validateRerankRequest({ ...ok, alpha: 1.5 }))).toBe('alpha');
    expect(fieldOf(() => validateRerankRequest({ ...ok, k: 0 }))).toBe('k');
  });

  it('bounds the candidate count by maxCandidates', () => {
    const three = { ...ok, candidates: ['a', 'b', 'c'].map((id) => ({ id, text: id, score: 1 })) };
    expect(() => validateRerankRequest(three, 2)).toThrow(/candidates: must hold at most 2 candidates/);
    expect(validateRerankRequest(three, 3).candidates).toHaveLength(3);
  });

  it('names a field a strict schema does not know', () => {
    expect(fieldOf(() => parseOrThrow(rerankRequestSchema().strict(), { ...ok, extra: 1 }))).toBe('extra');
  });
});
