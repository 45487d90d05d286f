import { describe, expect, it } from 'vitest';
import {
  normaliseEvalList,
  normaliseMetrics,
  normaliseQrels,
  normaliseRunRows,
  normaliseSearch,
  normaliseStats,
} from '../src/api.js';

describe('response normalisation', () => {
  it('reads the eval list of the search API', () => {
    expect(
      normaliseEvalList({
        evals: [{ name: 'cranfield', modifiedAt: '2026-11-24T00:00:00Z', systems: ['bm25', 'tasb'] }],
      }),
    ).toEqual([
      { name: 'cranfield', collection: undefined, createdAt: '2026-11-24T00:00:00Z', systems: ['bm25', 'tasb'] },
    ]);
    expect(normaliseEvalList(['a', { id: 'b' }, 3])).toEqual([
      { name: 'a' },
      { name: 'b', collection: undefined, createdAt: undefined, systems: undefined },
    ]);
    expect(normaliseEvalList(null)).toEqual([]);
  });

  it('reads run rows of one query, best score first, ranks renumbered', () => {
    const body = {
      rows: [
        { qid: '1', docid: 'd2', rank: 2, score: 1.5, tag: 'bm25' },
        { qid: '1', docid: 'd1', rank: 1, score: 2.5, tag: 'bm25' },
        { qid: '2', docid: 'd9', rank: 1, score: 9, tag: 'bm25' },
      ],
    };
    expect(normaliseRunRows(body, '1')).toEqual([
      { qid: '1', docId: 'd1', rank: 1, score: 2.5 },
      { qid: '1', docId: 'd2', rank: 2, score: 1.5 },
    ]);
    expect(normaliseRunRows([['1', 'Q0', 'd7', '1', '3.25', 'x']], '1')).toEqual([
      { qid: '1', docId: 'd7', rank: 1, score: 3.25 },
    ]);
  });

  it('reads qrels as a map, as judgments or as rows', () => {
    expect(normaliseQrels({ qid: '1', judgments: { d1: 2, d2: 0 } }, '1')).toEqual({ d1: 2, d2: 0 });
    expect(
      normaliseQrels(
        [
          { qid: '1', docid: 'd1', relevance: 1 },
          { qid: '2', docid: 'd3', relevance: 1 },
        ],
        '1',
      ),
    ).toEqual({ d1: 1 });
  });

  it('rejects a metrics file without systems, naming the field', () => {
    expect(() => normaliseMetrics({ version: 1 })).toThrow(/metrics\.systems/);
  });

  it('fills defaults for optional metrics fields', () => {
    const report = normaliseMetrics({
      systems: { bm25: { aggregate: { map: 0.3 }, perQuery: { '1': { map: 0.3 } } } },
    });
    expect(report.baseline).toBe('bm25');
    expect(report.measures).toEqual(['map']);
    expect(report.collection.queries).toBe(1);
  });

  it('reads a search response', () => {
    const r = normaliseSearch({
      query: 'q',
      results: [{ id: 'a', rank: 1, score: 12.5, bm25Score: 7.25, tasbScore: 12.5, text: 'alpha' }],
      fusion: 'tasb',
      degraded: false,
      timings: { firstStageMs: 1.5, totalMs: 3 },
    });
    expect(r.results).toEqual([{ id: 'a', rank: 1, score: 12.5, bm25Score: 7.25, text: 'alpha' }]);
    expect(r.timings).toEqual({ firstStageMs: 1.5, totalMs: 3 });
  });

  it('reads the live statistics of the search API', () => {
    const s = normaliseStats({
      mode: 'in-process',
      windowSeconds: 60,
      requests: 6,
      totalRequests: 8,
      requestsPerSecond: 0.1,
      degradedRate: 0.5,
      cacheHitRatio: 0.25,
      queryCacheHitRatio: 0.75,
      latencyMs: { total: { p50: 3, p95: 9, p99: 9 }, firstStage: { p50: 1, p95: 2, p99: 2 } },
      queueDepth: null,
      activeWorkers: null,
    });
    expect(s).toEqual({
      mode: 'in-process',
      requestsPerSecond: 0.1,
      totalRequests: 8,
      latency: { total: { p50: 3, p95: 9, p99: 9 }, firstStage: { p50: 1, p95: 2, p99: 2 } },
      degradedRate: 0.5,
      cacheHitRatio: 0.25,
      queryCacheHitRatio: 0.75,
      queueDepth: null,
      activeWorkers: null,
    });
  });
});
