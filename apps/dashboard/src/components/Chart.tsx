import { useEffect, useRef } from 'react';
import * as echarts from 'echarts/core';
import { BarChart, LineChart } from 'echarts/charts';
import {
  DataZoomComponent,
  GridComponent,
  LegendComponent,
  MarkLineComponent,
  TooltipComponent,
} from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';
import type { EChartsCoreOption } from 'echarts/core';

echarts.use([
  BarChart,
  LineChart,
  GridComponent,
  TooltipComponent,
  LegendComponent,
  DataZoomComponent,
  MarkLineComponent,
  CanvasRenderer,
]);

export interface ChartProps {
  option: EChartsCoreOption;
  height?: number;
  /** Accessible description of what the chart shows (charts are canvas, so screen readers get this). */
  label: string;
  onClickIndex?: (dataIndex: number) => void;
  testId?: string;
  dataAttributes?: Record<string, string | number>;
}

/** One ECharts instance bound to a div: created once, updated in place, resized with its container. */
export function Chart({ option, height = 320, label, onClickIndex, testId, dataAttributes }: ChartProps) {
  const ref = useRef<HTMLDivElement>(null);
  const chart = useRef<echarts.ECharts | null>(null);
  const clickRef = useRef(onClickIndex);
  clickRef.current = onClickIndex;

  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const instance = echarts.init(el, undefined, { renderer: 'canvas' });
    chart.current = instance;
    instance.on('click', (params) => {
      const p = params as { dataIndex?: number };
      if (typeof p.dataIndex === 'number') clickRef.current?.(p.dataIndex);
    });
    const observer = new ResizeObserver(() => instance.resize());
    observer.observe(el);
    return () => {
      observer.disconnect();
      instance.dispose();
      chart.current = null;
    };
  }, []);

  useEffect(() => {
    // applied now, not on the next frame (lazyUpdate): a chart disposed before that frame (a tab switched away)
    // made ECharts read its released painter ("reading 'layerStack'") in the e2e runs
    const instance = chart.current;
    if (instance && !instance.isDisposed()) instance.setOption(option, { notMerge: true });
  }, [option]);

  const data: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(dataAttributes ?? {})) data[`data-${k}`] = v;
  return (
    <div ref={ref} className="chart" style={{ height }} role="img" aria-label={label} data-testid={testId} {...data} />
  );
}

export const palette = {
  baseline: '#64748b',
  system: '#2563eb',
  win: '#16a34a',
  loss: '#dc2626',
  tie: '#94a3b8',
  accent: '#7c3aed',
  grid: '#e2e8f0',
  text: '#334155',
};
