import { useMemo, useState } from 'react';
import type { EChartsCoreOption } from 'echarts/core';
import { Chart, palette } from './Chart.js';
import { formatNumber, formatSigned, measureLabel, paginate, TIE_EPSILON, winTieLoss } from '../data.js';
import type { QueryDelta } from '../data.js';

export interface DeltaPanelProps {
  deltas: QueryDelta[];
  measure: string;
  system: string;
  baseline: string;
  onOpenQuery: (qid: string) => void;
  selectedQid: string | null;
}

const PAGE_SIZE = 25;

/** Per-query difference chart (sorted) with win/tie/loss counts and a paginated, searchable query list. */
export function DeltaPanel({ deltas, measure, system, baseline, onOpenQuery, selectedQid }: DeltaPanelProps) {
  const wtl = useMemo(() => winTieLoss(deltas), [deltas]);
  const option = useMemo<EChartsCoreOption>(() => {
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
    const bar = (name: string, data: (number | null)[], color: string) => ({
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
    });
    return {
      grid: { left: 56, right: 20, top: 30, bottom: n > 100 ? 70 : 40 },
      legend: { top: 0, right: 10, data: ['wins', 'losses'], textStyle: { color: palette.text } },
      tooltip: {
        trigger: 'axis',
        axisPointer: { type: 'shadow' },
        formatter: (params: unknown) => {
          const first = Array.isArray(params) ? (params[0] as { dataIndex: number }) : (params as { dataIndex: number });
          const d = deltas[first.dataIndex];
          if (!d) return '';
          return `query <b>${escapeHtml(d.qid)}</b><br/>${escapeHtml(system)}: ${formatNumber(d.system)}<br/>${escapeHtml(baseline)}: ${formatNumber(d.baseline)}<br/>Δ ${formatSigned(d.delta)}`;
        },
      },
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
      series: [bar('wins', gains, palette.win), bar('losses', losses, palette.loss), bar('ties', ties, palette.tie)],
    };
  }, [deltas, measure, system, baseline]);

  const [filter, setFilter] = useState('');
  const [page, setPage] = useState(0);
  const filtered = useMemo(() => {
    const f = filter.trim();
    return f === '' ? deltas : deltas.filter((d) => d.qid.includes(f));
  }, [deltas, filter]);
  const view = paginate(filtered, page, PAGE_SIZE);
  const mean = deltas.length ? deltas.reduce((s, d) => s + d.delta, 0) / deltas.length : null;

  return (
    <section className="panel" aria-labelledby="delta-title">
      <header className="panel-head">
        <h2 id="delta-title">
          Per-query Δ {measureLabel(measure)}: {system} − {baseline}
        </h2>
        <dl className="wtl" data-testid="wtl">
          <div className="win">
            <dt>wins</dt>
            <dd data-testid="wins">{wtl.wins.toLocaleString('en-US')}</dd>
          </div>
          <div className="tie">
            <dt>ties</dt>
            <dd data-testid="ties">{wtl.ties.toLocaleString('en-US')}</dd>
          </div>
          <div className="loss">
            <dt>losses</dt>
            <dd data-testid="losses">{wtl.losses.toLocaleString('en-US')}</dd>
          </div>
          <div>
            <dt>mean Δ</dt>
            <dd>{formatSigned(mean)}</dd>
          </div>
        </dl>
      </header>
      <Chart
        option={option}
        height={300}
        label={`Bar chart of ${deltas.length} per-query differences in ${measureLabel(measure)}, ${wtl.wins} wins, ${wtl.ties} ties, ${wtl.losses} losses. Click a bar to open that query.`}
        testId="delta-chart"
        dataAttributes={{ count: deltas.length }}
        onClickIndex={(i) => {
          const d = deltas[i];
          if (d) onOpenQuery(d.qid);
        }}
      />
      <div className="query-list">
        <div className="toolbar">
          <label>
            Find query{' '}
            <input
              type="search"
              value={filter}
              placeholder="query id"
              onChange={(e) => {
                setFilter(e.target.value);
                setPage(0);
              }}
            />
          </label>
          <span className="muted">
            {filtered.length.toLocaleString('en-US')} queries · page {view.page + 1} of {view.pages}
          </span>
          <span className="pager">
            <button type="button" onClick={() => setPage(0)} disabled={view.page === 0} aria-label="First page">
              «
            </button>
            <button type="button" onClick={() => setPage(view.page - 1)} disabled={view.page === 0} aria-label="Previous page">
              ‹
            </button>
            <button type="button" onClick={() => setPage(view.page + 1)} disabled={view.page >= view.pages - 1} aria-label="Next page">
              ›
            </button>
            <button type="button" onClick={() => setPage(view.pages - 1)} disabled={view.page >= view.pages - 1} aria-label="Last page">
              »
            </button>
          </span>
        </div>
        <table className="queries" data-testid="query-table">
          <thead>
            <tr>
              <th scope="col">Query</th>
              <th scope="col" className="num">
                {baseline}
              </th>
              <th scope="col" className="num">
                {system}
              </th>
              <th scope="col" className="num">
                Δ
              </th>
              <th scope="col">
                <span className="sr-only">Open</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {view.items.map((d) => (
              <tr key={d.qid} className={d.qid === selectedQid ? 'selected' : undefined}>
                <th scope="row">{d.qid}</th>
                <td className="num">{formatNumber(d.baseline)}</td>
                <td className="num">{formatNumber(d.system)}</td>
                <td className={`num ${d.delta > TIE_EPSILON ? 'pos' : d.delta < -TIE_EPSILON ? 'neg' : ''}`}>{formatSigned(d.delta)}</td>
                <td>
                  <button
                    type="button"
                    className="link"
                    onClick={() => onOpenQuery(d.qid)}
                    data-testid={`open-${d.qid}`}
                    aria-label={`Compare rankings of query ${d.qid}`}
                  >
                    Compare rankings
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
