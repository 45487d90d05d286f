import { useMemo } from 'react';
import { Chart } from './Chart.js';
import { LiveKpis } from './LiveKpis.js';
import { liveChartOption } from './liveChartOption.js';
import { StageLatencyTable } from './StageLatencyTable.js';
import { REFRESH_MS, useLiveStats } from './useLiveStats.js';

/** Live service view: polls GET /api/stats every two seconds and keeps a five-minute time series. */
export function LiveView({ active }: { active: boolean }) {
  const { samples, error } = useLiveStats(active);
  const last = samples[samples.length - 1]?.stats;
  const stages = last ? Object.keys(last.latency) : [];
  const headlineStage = stages.find((s) => s === 'total') ?? stages.find((s) => s === 'search') ?? stages[0];
  const option = useMemo(() => liveChartOption(samples, headlineStage), [samples, headlineStage]);

  return (
    <div
      className="live"
      data-testid="live-view"
      data-samples={samples.length}
      data-total-requests={last?.totalRequests ?? ''}
    >
      {error ? (
        <p className="error" role="alert">
          Live statistics unavailable: {error}. Retrying every {REFRESH_MS / 1000} s.
        </p>
      ) : null}
      <LiveKpis last={last} headlineStage={headlineStage} />
      <section className="panel" aria-labelledby="live-chart-title">
        <header className="panel-head">
          <h2 id="live-chart-title">Throughput and latency</h2>
          <span className="muted small">
            refreshed every {REFRESH_MS / 1000} s · {samples.length} samples
            {samples.length ? ` · last ${new Date(samples[samples.length - 1]!.t).toLocaleTimeString('en-GB')}` : ''}
          </span>
        </header>
        <Chart
          option={option}
          height={260}
          label="Time series of requests per second and latency percentiles"
          testId="live-chart"
          dataAttributes={{ count: samples.length }}
        />
      </section>
      <StageLatencyTable last={last} stages={stages} />
    </div>
  );
}
