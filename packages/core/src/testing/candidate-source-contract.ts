import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CandidateSource, Passage } from '../types.js';

/** A small corpus whose BM25 order is unambiguous for the queries below. */
export const CONTRACT_PASSAGES: Passage[] = [
  {
    id: 'p1',
    text: 'The boundary layer on a flat plate at supersonic speed.',
    metadata: { topic: 'flow', year: 1960 },
  },
  {
    id: 'p2',
    text: 'Heat transfer in the boundary layer of a hypersonic vehicle.',
    metadata: { topic: 'heat', year: 1962 },
  },
  {
    id: 'p3',
    text: 'Structural vibration of thin wings under aerodynamic load.',
    metadata: { topic: 'structures', year: 1960 },
  },
  {
    id: 'p4',
    text: 'Shock waves and the boundary layer: an interaction study.',
    metadata: { topic: 'flow', year: 1961 },
  },
  {
    id: 'p5',
    text: 'Buckling of cylindrical shells under axial compression.',
    metadata: { topic: 'structures', year: 1963 },
  },
];

/**
 * The behaviour every CandidateSource must have. Call inside a test file with a factory that returns a fresh,
 * empty source; the suite indexes CONTRACT_PASSAGES itself.
 */
export function candidateSourceContract(name: string, create: () => Promise<CandidateSource>): void {
  describe(`CandidateSource contract: ${name}`, () => {
    let source: CandidateSource;

    beforeAll(async () => {
      source = await create();
      const report = await source.index(CONTRACT_PASSAGES);
      expect(report).toMatchObject({ indexed: CONTRACT_PASSAGES.length, failed: 0, skipped: 0 });
    });

    afterAll(async () => {
      await source?.close();
    });

    it('counts what it indexed', async () => {
      expect(await source.count()).toBe(CONTRACT_PASSAGES.length);
    });

    it('returns matching passages with text, best score first', async () => {
      const results = await source.search('boundary layer', { k: 10 });
      expect(results.map((r) => r.id).sort()).toEqual(['p1', 'p2', 'p4']);
      for (const r of results) {
        expect(r.text).toBe(CONTRACT_PASSAGES.find((p) => p.id === r.id)!.text);
        expect(Number.isFinite(r.score)).toBe(true);
      }
      for (let i = 1; i < results.length; i++) expect(results[i - 1]!.score).toBeGreaterThanOrEqual(results[i]!.score);
    });

    it('respects k', async () => {
      const results = await source.search('boundary layer', { k: 2 });
      expect(results).toHaveLength(2);
    });

    it('applies an equality filter', async () => {
      const results = await source.search('boundary layer', { k: 10, filter: { topic: 'flow' } });
      expect(results.map((r) => r.id).sort()).toEqual(['p1', 'p4']);
      const anyOf = await source.search('under', { k: 10, filter: { year: [1960, 1963] } });
      expect(anyOf.map((r) => r.id).sort()).toEqual(['p3', 'p5']);
    });

    it('returns nothing for a query without matching terms', async () => {
      expect(await source.search('zeppelin', { k: 10 })).toEqual([]);
    });

    it('replaces a passage indexed again under the same id', async () => {
      const report = await source.index([
        {
          id: 'p3',
          text: 'Zeppelin airships and their structural vibration.',
          metadata: { topic: 'structures', year: 1960 },
        },
      ]);
      expect(report.indexed).toBe(1);
      expect(await source.count()).toBe(CONTRACT_PASSAGES.length);
      const results = await source.search('zeppelin', { k: 10 });
      expect(results.map((r) => r.id)).toEqual(['p3']);
      expect(results[0]!.text).toContain('Zeppelin');
    });
  });
}
