import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTRACT_PASSAGES } from '@dotrank/core/testing';
import type { CandidateSource, DenseEncoder, Passage, SearchFilter } from '@dotrank/core';

const dot = (a: Float32Array, b: Float32Array) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

/** The expected ranking: a plain loop over the encoder's own vectors (independent of the source's search code). */
async function expected(
  encoder: DenseEncoder,
  passages: Passage[],
  query: string,
  filter?: SearchFilter,
): Promise<Array<{ id: string; score: number }>> {
  const [q] = await encoder.encodeQueries([query]);
  const vectors = await encoder.encodePassages(passages.map((p) => p.text));
  const out: Array<{ id: string; score: number }> = [];
  passages.forEach((p, i) => {
    if (filter) {
      for (const [field, wanted] of Object.entries(filter)) {
        const actual = p.metadata?.[field];
        if (actual === undefined || (Array.isArray(wanted) ? !wanted.includes(actual) : wanted !== actual)) return;
      }
    }
    out.push({ id: p.id, score: dot(q!, vectors[i]!) });
  });
  return out.sort((a, b) => b.score - a.score);
}

/**
 * The behaviour every dense CandidateSource must have (the shared contract's lexical expectations - "zeppelin"
 * matches nothing - do not hold for dense retrieval, which always returns the nearest passages): count, k, order
 * by inner product equal to a plain loop over the encoder's vectors, equality filters, replacement, text carried.
 * `create` returns a fresh, empty source using `encoder`.
 */
export function denseSourceContract(
  name: string,
  create: () => Promise<CandidateSource>,
  getEncoder: () => DenseEncoder,
): void {
  describe(`dense CandidateSource contract: ${name}`, () => {
    let source: CandidateSource;
    let passages: Passage[] = CONTRACT_PASSAGES.map((p) => ({ ...p }));

    beforeAll(async () => {
      source = await create();
      const report = await source.index(passages);
      expect(report).toMatchObject({ indexed: passages.length, failed: 0, skipped: 0 });
    });

    afterAll(async () => {
      await source?.close();
    });

    it('is a dense source and counts what it indexed', async () => {
      expect(source.kind).toBe('dense');
      expect(await source.count()).toBe(passages.length);
    });

    it('ranks by inner product like a plain loop over the encoder vectors, with the text carried', async () => {
      const results = await source.search('boundary layer', { k: 10 });
      const truth = await expected(getEncoder(), passages, 'boundary layer');
      expect(results.map((r) => r.id)).toEqual(truth.map((t) => t.id));
      results.forEach((r, i) => {
        expect(r.score).toBeCloseTo(truth[i]!.score, 3);
        expect(r.text).toBe(passages.find((p) => p.id === r.id)!.text);
      });
      for (let i = 1; i < results.length; i++) expect(results[i - 1]!.score).toBeGreaterThanOrEqual(results[i]!.score);
    });

    it('respects k', async () => {
      const results = await source.search('boundary layer', { k: 2 });
      const truth = await expected(getEncoder(), passages, 'boundary layer');
      expect(results.map((r) => r.id)).toEqual(truth.slice(0, 2).map((t) => t.id));
    });

    it('applies equality and any-of filters', async () => {
      const flow = await source.search('boundary layer', { k: 10, filter: { topic: 'flow' } });
      expect(flow.map((r) => r.id)).toEqual(
        (await expected(getEncoder(), passages, 'boundary layer', { topic: 'flow' })).map((t) => t.id),
      );
      expect(flow.map((r) => r.id).sort()).toEqual(['p1', 'p4']);
      const anyOf = await source.search('under', { k: 10, filter: { year: [1960, 1963] } });
      expect(anyOf.map((r) => r.id).sort()).toEqual(['p1', 'p3', 'p5']);
      expect(anyOf.map((r) => r.id)).toEqual(
        (await expected(getEncoder(), passages, 'under', { year: [1960, 1963] })).map((t) => t.id),
      );
      expect(anyOf[0]!.metadata).toBeDefined();
    });

    it('rejects a bad k', async () => {
      await expect(source.search('boundary layer', { k: 0 })).rejects.toThrow(/k/);
    });

    it('replaces a passage indexed again under the same id', async () => {
      const replacement: Passage = {
        id: 'p3',
        text: 'Zeppelin airships and their structural vibration.',
        metadata: { topic: 'structures', year: 1960 },
      };
      const report = await source.index([replacement]);
      expect(report.indexed).toBe(1);
      passages = passages.map((p) => (p.id === 'p3' ? replacement : p));
      expect(await source.count()).toBe(passages.length);
      const results = await source.search('zeppelin', { k: 10 });
      const truth = await expected(getEncoder(), passages, 'zeppelin');
      expect(results.map((r) => r.id)).toEqual(truth.map((t) => t.id));
      const p3 = results.find((r) => r.id === 'p3')!;
      expect(p3.text).toContain('Zeppelin');
      expect(p3.score).toBeCloseTo(truth.find((t) => t.id === 'p3')!.score, 3);
    });
  });
}
