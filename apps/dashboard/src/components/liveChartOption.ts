import type { EChartsCoreOption } from 'echarts/core';
import { palette } from './Chart.js';
import type { Sample } from './useLiveStats.js';

/** The p50 (solid) and p95 (dashed) latency lines of one stage, on the right-hand ms axis. */
function latencySeries(samples: Sample[], stage: string) {
  return (['p50', 'p95'] as const).map((p) => ({
    name: `${stage} ${p}`,
    type: 'line',
    yAxisIndex: 1,
    showSymbol: false,
    lineStyle: { type: p === 'p50' ? 'solid' : 'dashed' },
    itemStyle: { color: p === 'p50' ? palette.accent : '#ea580c' },
    data: samples.map((s) => [s.t, s.stats.latency[stage]?.[p] ?? null]),
  }));
}

/** Searches per second over time, with the headline stage's latency percentiles when there is one. */
export function liveChartOption(samples: Sample[], headlineStage: string | undefined): EChartsCoreOption {
  return {
    grid: { left: 56, right: 64, top: 48, bottom: 36 },
    legend: { top: 0, left: 'center', textStyle: { color: palette.text } },
    tooltip: { trigger: 'axis' },
    xAxis: { type: 'time', axisLabel: { color: palette.text }, splitLine: { show: false } },
    yAxis: [
      {
        type: 'value',
        name: 'searches/s',
        min: 0,
        axisLabel: { color: palette.text },
        splitLine: { lineStyle: { color: palette.grid } },
      },
      { type: 'value', name: 'ms', min: 0, axisLabel: { color: palette.text }, splitLine: { show: false } },
    ],
    series: [
      {
        name: 'searches/s',
        type: 'line',
        showSymbol: false,
        areaStyle: { opacity: 0.12 },
        itemStyle: { color: palette.system },
        data: samples.map((s) => [s.t, s.stats.requestsPerSecond ?? 0]),
      },
      ...(headlineStage ? latencySeries(samples, headlineStage) : []),
    ],
    animation: false,
  };
}
