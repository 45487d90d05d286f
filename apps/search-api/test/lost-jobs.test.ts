import { describe, expect, it } from 'vitest';
import { buildServer } from '../src/index.js';
import { FakeReranker, FakeSource } from './fakes.js';

// Issue #23: a job lost with a Redis Cluster master is answered degraded at its deadline and counted on /metrics.
describe('dotrank_rerank_lost_jobs_total', () => {
  it("follows the queue producer's count of lost jobs, scrape after scrape", async () => {
    let lost = 0;
    const app = await buildServer(
      { source: new FakeSource(), reranker: new FakeReranker(), mode: 'queue', lostJobs: () => lost },
      { logger: false },
    );
    try {
      const scrape = async () =>
        /^dotrank_rerank_lost_jobs_total (\d+)$/m.exec((await app.inject({ url: '/metrics' })).body)?.[1];
      expect(await scrape()).toBe('0');
      lost = 2;
      expect(await scrape()).toBe('2');
      lost = 3;
      expect(await scrape()).toBe('3');
    } finally {
      await app.close();
    }
  });

  it('is absent in in-process mode (no queue, nothing to lose)', async () => {
    const app = await buildServer(
      { source: new FakeSource(), reranker: new FakeReranker(), mode: 'in-process' },
      { logger: false },
    );
    try {
      expect((await app.inject({ url: '/metrics' })).body).not.toContain('dotrank_rerank_lost_jobs_total');
    } finally {
      await app.close();
    }
  });
});
