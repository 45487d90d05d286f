import { useEffect, useMemo, useState } from 'react';
import type { EChartsCoreOption } from 'echarts/core';
import { api } from '../api.js';
import { formatNumber, formatPercent, pushBounded } from '../data.js';
import type { LiveStats } from '../types.js';
import { Chart, palette } from './Chart.js';

export const REFRESH_MS = 2000;
const MAX_SAMPLES = 150; // five minutes at 2 s

interface Sample {
  t: number;
  stats: LiveStats;
}

function Kpi({ label, value, testId, hint }: { label: string; value: string; testId: string; hint?: string }) {
  return (
    <div className="kpi" title={hint}>
      <div className="kpi-label">{label}</div>
      <div className={`kpi-value${/^[\d—]/.test(value) ? '' : ' text'}`} data-testid={testId}>
        {value}
      </div>
    </div>
  );
}

const ms = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? '—' : `${v.toFixed(v < 10 ? 2 : 1)} ms`);

/** Live service view: polls GET /api/stats every two seconds and keeps a five-minute time series. */
export function LiveView({ active }: { active: boolean }) {
  const [samples, setSamples] = useState<Sample[]>([]);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (!active) return;
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      try {
        const stats = await api.stats();
        if (!live) return;
        setSamples((s) => pushBounded(s, { t: Date.now(), stats }, MAX_SAMPLES));
        setError(null);
      } catch (e) {
        if (live) setError(e instanceof Error ? e.message : String(e));
      }
      if (live) timer = setTimeout(() => void tick(), REFRESH_MS);
    };
    void tick();
    return () => {
      live = false;
      if (timer) clearTimeout(timer);
    };
  }, [active]);

  const last = samples[samples.length - 1]?.stats;
  const stages = last ? Object.keys(last.latency) : [];
  const noQueue = last?.mode === 'in-process' ? 'in-process' : '—';
  const headlineStage = stages.find((s) => s === 'total') ?? stages.find((s) => s === 'search') ?? stages[0];

  const option = useMemo<EChartsCoreOption>(() => {
    const time = (s: Sample) => s.t;
    return {
      grid: { left: 56, right: 64, top: 48, bottom: 36 },
      legend: { top: 0, left: 'center', textStyle: { color: palette.text } },
      tooltip: { trigger: 'axis' },
      xAxis: { type: 'time', axisLabel: { color: palette.text }, splitLine: { show: false } },
      yAxis: [
        { type: 'value', name: 'searches/s', min: 0, axisLabel: { color: palette.text }, splitLine: { lineStyle: { color: palette.grid } } },
        { type: 'value', name: 'ms', min: 0, axisLabel: { color: palette.text }, splitLine: { show: false } },
      ],
      series: [
        {
          name: 'searches/s',
          type: 'line',
          showSymbol: false,
          areaStyle: { opacity: 0.12 },
          itemStyle: { color: palette.system },
          data: samples.map((s) => [time(s), s.stats.requestsPerSecond ?? 0]),
        },
        ...(headlineStage
          ? (['p50', 'p95'] as const).map((p) => ({
              name: `${headlineStage} ${p}`,
              type: 'line',
              yAxisIndex: 1,
              showSymbol: false,
              lineStyle: { type: p === 'p50' ? 'solid' : 'dashed' },
              itemStyle: { color: p === 'p50' ? palette.accent : '#ea580c' },
              data: samples.map((s) => [time(s), s.stats.latency[headlineStage]?.[p] ?? null]),
            }))
          : []),
      ],
      animation: false,
    };
  }, [samples, headlineStage]);

  return (
    <div className="live" data-testid="live-view" data-samples={samples.length} data-total-requests={last?.totalRequests ?? ''}>
      {error ? (
        <p className="error" role="alert">
          Live statistics unavailable: {error}. Retrying every {REFRESH_MS / 1000} s.
        </p>
      ) : null}
      <section className="kpis" aria-label="Current service figures" aria-live="polite">
        <Kpi label="Searches / s (last min)" value={formatNumber(last?.requestsPerSecond, 2)} testId="kpi-rps" />
        <Kpi label="Searches served" value={last?.totalRequests !== null && last?.totalRequests !== undefined ? last.totalRequests.toLocaleString('en-US') : '—'} testId="kpi-total" />
        <Kpi label={`Latency p50${headlineStage ? ` (${headlineStage})` : ''}`} value={ms(headlineStage ? last?.latency[headlineStage]?.p50 : null)} testId="kpi-p50" />
        <Kpi label={`Latency p95${headlineStage ? ` (${headlineStage})` : ''}`} value={ms(headlineStage ? last?.latency[headlineStage]?.p95 : null)} testId="kpi-p95" />
        <Kpi label="Degraded responses" value={formatPercent(last?.degradedRate)} testId="kpi-degraded" hint="Share of responses served without the dense rerank (deadline, queue or worker trouble)" />
        <Kpi label="Vector cache hits" value={formatPercent(last?.cacheHitRatio)} testId="kpi-cache" />
        <Kpi
          label="Queue depth"
          value={last?.queueDepth !== null && last?.queueDepth !== undefined ? String(last.queueDepth) : noQueue}
          testId="kpi-queue"
          hint="Rerank jobs waiting in the BullMQ queue"
        />
        <Kpi
          label="Active workers"
          value={last?.activeWorkers !== null && last?.activeWorkers !== undefined ? String(last.activeWorkers) : noQueue}
          testId="kpi-workers"
          hint="Rerank workers connected to the queue"
        />
      </section>
      <section className="panel" aria-labelledby="live-chart-title">
        <header className="panel-head">
          <h2 id="live-chart-title">Throughput and latency</h2>
          <span className="muted small">
            refreshed every {REFRESH_MS / 1000} s · {samples.length} samples
            {samples.length ? ` · last ${new Date(samples[samples.length - 1]!.t).toLocaleTimeString('en-GB')}` : ''}
          </span>
        </header>
        <Chart option={option} height={260} label="Time series of requests per second and latency percentiles" testId="live-chart" dataAttributes={{ count: samples.length }} />
      </section>
      <section className="panel" aria-labelledby="stages-title">
        <h2 id="stages-title">Latency by stage</h2>
        {stages.length === 0 ? (
          <p className="muted">No latency observed yet: send a search (Try it tab) and it appears here.</p>
        ) : (
          <table className="stages" data-testid="stage-table">
            <thead>
              <tr>
                <th scope="col">Stage</th>
                <th scope="col" className="num">
                  p50
                </th>
                <th scope="col" className="num">
                  p95
                </th>
                <th scope="col" className="num">
                  p99
                </th>
              </tr>
            </thead>
            <tbody>
              {stages.map((s) => (
                <tr key={s}>
                  <th scope="row">{s}</th>
                  <td className="num">{ms(last?.latency[s]?.p50)}</td>
                  <td className="num">{ms(last?.latency[s]?.p95)}</td>
                  <td className="num">{ms(last?.latency[s]?.p99)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  );
}
