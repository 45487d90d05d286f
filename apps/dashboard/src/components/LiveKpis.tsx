import { formatNumber, formatPercent } from '../data.js';
import type { LiveStats } from '../types.js';
import { formatMs } from './formatMs.js';
import { Kpi } from './Kpi.js';

const countText = (v: number | null | undefined, absent: string) =>
  v !== null && v !== undefined ? String(v) : absent;

/** The current service figures from the latest sample; queue figures read "in-process" when there is no queue. */
export function LiveKpis({ last, headlineStage }: { last: LiveStats | undefined; headlineStage: string | undefined }) {
  const noQueue = last?.mode === 'in-process' ? 'in-process' : '—';
  const stageSuffix = headlineStage ? ` (${headlineStage})` : '';
  const headline = headlineStage ? last?.latency[headlineStage] : undefined;
  return (
    <section className="kpis" aria-label="Current service figures" aria-live="polite">
      <Kpi label="Searches / s (last min)" value={formatNumber(last?.requestsPerSecond, 2)} testId="kpi-rps" />
      <Kpi
        label="Searches served"
        value={
          last?.totalRequests !== null && last?.totalRequests !== undefined
            ? last.totalRequests.toLocaleString('en-US')
            : '—'
        }
        testId="kpi-total"
      />
      <Kpi label={`Latency p50${stageSuffix}`} value={formatMs(headline?.p50)} testId="kpi-p50" />
      <Kpi label={`Latency p95${stageSuffix}`} value={formatMs(headline?.p95)} testId="kpi-p95" />
      <Kpi
        label="Degraded responses"
        value={formatPercent(last?.degradedRate)}
        testId="kpi-degraded"
        hint="Share of responses served without the dense rerank (deadline, queue or worker trouble)"
      />
      <Kpi label="Vector cache hits" value={formatPercent(last?.cacheHitRatio)} testId="kpi-cache" />
      {last?.queryCacheHitRatio !== null && last?.queryCacheHitRatio !== undefined ? (
        <Kpi
          label="Query cache hits"
          value={formatPercent(last.queryCacheHitRatio)}
          testId="kpi-query-cache"
          hint="Queries whose vector came from the query cache (this API process or Redis) since the API started"
        />
      ) : null}
      <Kpi
        label="Queue depth"
        value={countText(last?.queueDepth, noQueue)}
        testId="kpi-queue"
        hint="Rerank jobs waiting in the BullMQ queue"
      />
      <Kpi
        label="Active workers"
        value={countText(last?.activeWorkers, noQueue)}
        testId="kpi-workers"
        hint="Rerank workers connected to the queue"
      />
    </section>
  );
}
