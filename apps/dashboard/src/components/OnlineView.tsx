import { useEffect, useState } from 'react';
import { onlineApi } from '../online-api.js';
import type { ExperimentReport } from '../online-types.js';
import { Kpi } from './Kpi.js';
import { ShadowPanel } from './ShadowPanel.js';

const REFRESH_MS = 2000;
const fmt = (x: number, digits = 3) => (x >= 0 ? '+' : '') + x.toFixed(digits);

/** While `active`, polls GET /api/experiments/current. */
function useExperimentReport(active: boolean) {
  const [report, setReport] = useState<ExperimentReport | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (!active) return;
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      try {
        const next = await onlineApi.report();
        if (live) {
          setReport(next);
          setError(null);
        }
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
  return { report, error };
}

function Verdict({ report }: { report: ExperimentReport }) {
  if (report.impressionsWithClicks === 0) return <p className="muted">No clicks yet: post events to /api/events.</p>;
  const better = report.delta > 0 ? 'TAS-B' : report.delta < 0 ? 'BM25' : 'neither';
  const significant = report.pValue < 0.05;
  return (
    <p data-testid="online-verdict">
      Users prefer <strong>{better}</strong>
      {significant ? ' (significant at p < 0.05)' : ' (not significant yet)'}
      {report.impressionsStillNeeded
        ? ` · about ${report.impressionsStillNeeded.toLocaleString('en-US')} more impressions for 80 % power`
        : ''}
    </p>
  );
}

function PerQueryTable({ report }: { report: ExperimentReport }) {
  if (report.perQuery.length === 0) return null;
  return (
    <section className="panel" aria-labelledby="online-queries-title">
      <header className="panel-head">
        <h2 id="online-queries-title">Queries with most impressions</h2>
      </header>
      <table className="table" data-testid="online-per-query">
        <thead>
          <tr>
            <th>query</th>
            <th>impressions</th>
            <th>with clicks</th>
            <th>wins</th>
            <th>ties</th>
            <th>losses</th>
            <th>Δ</th>
          </tr>
        </thead>
        <tbody>
          {report.perQuery.map((q) => (
            <tr key={q.query}>
              <td>{q.query}</td>
              <td>{q.impressions}</td>
              <td>{q.impressionsWithClicks}</td>
              <td>{q.wins}</td>
              <td>{q.ties}</td>
              <td>{q.losses}</td>
              <td>{fmt(q.delta)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** Online experiment: interleaving wins/ties/losses of TAS-B over BM25 from clicks, and the shadow overlap. */
export function OnlineView({ active }: { active: boolean }) {
  const { report, error } = useExperimentReport(active);
  return (
    <div className="online" data-testid="online-view" data-impressions={report?.impressions ?? ''}>
      {error ? (
        <p className="error" role="alert">
          Experiment report unavailable: {error}.
        </p>
      ) : null}
      {report ? (
        <>
          <p className="muted small">
            experiment <strong data-testid="online-name">{report.name}</strong> · mode {report.mode} · Δ = (wins −
            losses) / impressions with clicks; wins are TAS-B&apos;s
          </p>
          <div className="kpis">
            <Kpi label="impressions" value={String(report.impressions)} testId="online-impressions" />
            <Kpi label="with clicks" value={String(report.impressionsWithClicks)} testId="online-clicked" />
            <Kpi label="TAS-B wins" value={String(report.wins)} testId="online-wins" />
            <Kpi label="ties" value={String(report.ties)} testId="online-ties" />
            <Kpi label="losses" value={String(report.losses)} testId="online-losses" />
            <Kpi label="Δ" value={fmt(report.delta)} testId="online-delta" />
            <Kpi label="sign test p" value={report.pValue.toPrecision(4)} testId="online-pvalue" />
            <Kpi
              label="95 % CI of Δ"
              value={`${fmt(report.ci[0])} .. ${fmt(report.ci[1])}`}
              testId="online-ci"
              hint="percentile bootstrap"
            />
          </div>
          <Verdict report={report} />
          <PerQueryTable report={report} />
          {report.shadow ? <ShadowPanel shadow={report.shadow} /> : null}
        </>
      ) : null}
    </div>
  );
}
