import type { EChartsCoreOption } from 'echarts/core';
import { palette } from './Chart.js';
import { formatNumber, formatSigned, measureLabel, TIE_EPSILON } from '../data.js';
import type { QueryDelta } from '../data.js';

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** The sorted deltas split into three bar series (a bar is null where it belongs to another series), by query id. */
function deltaSeries(deltas: QueryDelta[]) {
  const n = deltas.length;
  const gains: (number | null)[] = new Array(n);
  const ties: (number | null)[] = new Array(n);
  const losses: (number | null)[] = new Array(n);
  const cats: string[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const d = deltas[i]!;
    cats[i] = d.qid;
    gains[i] = d.delta > TIE_EPSILON ? d.delta : null;
    losses[i] = d.delta < -TIE_EPSILON ? d.delta : null;
    // Ties are drawn as a hairline so the zero stretch of the curve stays visible.
    ties[i] = Math.abs(d.delta) <= TIE_EPSILON ? 0 : null;
  }
  return { cats, gains, ties, losses };
}

/** One bar series; large charts drop the gaps, hover emphasis and animation so thousands of bars stay fast. */
function deltaBar(name: string, data: (number | null)[], color: string, n: number) {
  return {
    name,
    type: 'bar',
    data,
    large: true,
    largeThreshold: 500,
    barGap: '-100%',
    barCategoryGap: n > 200 ? '0%' : '20%',
    itemStyle: { color },
    emphasis: { disabled: n > 2000 },
    animation: n <= 500,
  };
}

function deltaTooltip(deltas: QueryDelta[], system: string, baseline: string) {
  return {
    trigger: 'axis',
    axisPointer: { type: 'shadow' },
    formatter: (params: unknown) => {
      const first = Array.isArray(params) ? (params[0] as { dataIndex: number }) : (params as { dataIndex: number });
      const d = deltas[first.dataIndex];
      if (!d) return '';
      return `query <b>${escapeHtml(d.qid)}</b><br/>${escapeHtml(system)}: ${formatNumber(d.system)}<br/>${escapeHtml(baseline)}: ${formatNumber(d.baseline)}<br/>Δ ${formatSigned(d.delta)}`;
    },
  };
}

/** The per-query difference chart: one bar per query, sorted by Δ, coloured win / tie / loss. */
export function deltaChartOption(
  deltas: QueryDelta[],
  measure: string,
  system: string,
  baseline: string,
): EChartsCoreOption {
  const n = deltas.length;
  const { cats, gains, ties, losses } = deltaSeries(deltas);
  return {
    grid: { left: 56, right: 20, top: 30, bottom: n > 100 ? 70 : 40 },
    legend: { top: 0, right: 10, data: ['wins', 'losses'], textStyle: { color: palette.text } },
    tooltip: deltaTooltip(deltas, system, baseline),
    xAxis: {
      type: 'category',
      data: cats,
      name: 'queries, sorted by Δ',
      nameLocation: 'middle',
      nameGap: n > 60 ? 12 : 24,
      axisLabel: { show: n <= 60, color: palette.text },
      axisTick: { show: false },
    },
    yAxis: {
      type: 'value',
      name: `Δ ${measureLabel(measure)}`,
      nameTextStyle: { color: palette.text },
      axisLabel: { color: palette.text, formatter: (v: number) => v.toFixed(2) },
      splitLine: { lineStyle: { color: palette.grid } },
    },
    dataZoom: n > 100 ? [{ type: 'inside' }, { type: 'slider', height: 16, bottom: 10, showDetail: false }] : [],
    series: [
      deltaBar('wins', gains, palette.win, n),
      deltaBar('losses', losses, palette.loss, n),
      deltaBar('ties', ties, palette.tie, n),
    ],
  };
}
