import { useMemo } from 'react';
import type { EChartsCoreOption } from 'echarts/core';
import { Chart, palette } from './Chart.js';
import { depthForRecallFraction, formatNumber, recallPoints } from '../data.js';
import type { RecallCurve } from '../types.js';

const colors = [palette.baseline, palette.system, palette.accent, '#ea580c', '#0891b2'];

/** Recall of the first stage at each depth: how deep candidates must go before reranking can find them. */
export function RecallPanel({ curves }: { curves: Record<string, RecallCurve> }) {
  const stages = Object.keys(curves);
  const points = useMemo(() => Object.fromEntries(stages.map((s) => [s, recallPoints(curves[s]!)])), [curves, stages]);
  const option = useMemo<EChartsCoreOption>(() => {
    const logScale =
      stages.some((s) => (points[s] ?? []).some((p) => p.depth >= 100)) &&
      stages.every((s) => (points[s] ?? []).every((p) => p.depth > 0));
    return {
      grid: { left: 56, right: 24, top: 30, bottom: 44 },
      legend: { top: 0, right: 10, textStyle: { color: palette.text } },
      tooltip: {
        trigger: 'axis',
        valueFormatter: (v: unknown) => (typeof v === 'number' ? v.toFixed(4) : String(v)),
      },
      xAxis: {
        type: logScale ? 'log' : 'value',
        name: 'depth (candidates)',
        nameLocation: 'middle',
        nameGap: 28,
        axisLabel: { color: palette.text },
        splitLine: { lineStyle: { color: palette.grid } },
      },
      yAxis: {
        type: 'value',
        name: 'recall',
        min: 0,
        max: 1,
        axisLabel: { color: palette.text, formatter: (v: number) => v.toFixed(1) },
        splitLine: { lineStyle: { color: palette.grid } },
      },
      series: stages.map((s, i) => ({
        name: s,
        type: 'line',
        showSymbol: (points[s]?.length ?? 0) <= 50,
        sampling: 'lttb',
        data: (points[s] ?? []).map((p) => [p.depth, p.recall]),
        lineStyle: { width: 2, color: colors[i % colors.length] },
        itemStyle: { color: colors[i % colors.length] },
      })),
    };
  }, [stages, points]);

  if (stages.length === 0) {
    return (
      <section className="panel" aria-labelledby="recall-title">
        <h2 id="recall-title">First-stage recall at depth</h2>
        <p className="muted">This eval output has no first-stage recall curve.</p>
      </section>
    );
  }
  return (
    <section className="panel" aria-labelledby="recall-title">
      <header className="panel-head">
        <h2 id="recall-title">First-stage recall at depth</h2>
      </header>
      <Chart
        option={option}
        height={280}
        label={`Line chart of recall against candidate depth for ${stages.join(', ')}`}
        testId="recall-chart"
        dataAttributes={{ count: stages.length }}
      />
      <ul className="notes">
        {stages.map((s) => {
          const pts = points[s] ?? [];
          const last = pts[pts.length - 1];
          const at95 = depthForRecallFraction(pts, 0.95);
          return (
            <li key={s}>
              <strong>{s}</strong>: recall {formatNumber(last?.recall)} at depth {last?.depth ?? '—'}
              {at95 && last
                ? `; 95 % of that is reached by depth ${at95.depth} (recall ${formatNumber(at95.recall)})`
                : ''}
            </li>
          );
        })}
      </ul>
    </section>
  );
}
