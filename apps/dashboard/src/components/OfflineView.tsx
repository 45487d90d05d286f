import { useEffect, useMemo, useState } from 'react';
import { api } from '../api.js';
import { defaultComparedSystem, defaultDeltaMeasure, measureLabel, orderMeasures, perQueryDeltas } from '../data.js';
import type { EvalSummary, MetricsReport } from '../types.js';
import { DeltaPanel } from './DeltaPanel.js';
import { DrillDown } from './DrillDown.js';
import { MetricsTable } from './MetricsTable.js';
import { RecallPanel } from './RecallPanel.js';

export const EVAL_COMMAND = 'npx dotrank eval --collection datasets/cranfield --out .dotrank/evals/cranfield';

function EmptyState() {
  return (
    <section className="panel empty" data-testid="empty-state">
      <h2>No evaluation results yet</h2>
      <p>
        The server found no eval output under its <code>--eval-dir</code>. Produce one from the repository root, then reload this page:
      </p>
      <pre>
        <code>{EVAL_COMMAND}</code>
      </pre>
      <p className="muted">
        <code>npx dotrank serve</code> serves <code>.dotrank/evals</code> by default (or pass <code>--eval-dir &lt;dir&gt;</code>); every folder
        in it holding a <code>metrics.json</code> becomes a choice in the eval output selector.
      </p>
    </section>
  );
}

export function OfflineView() {
  const [evals, setEvals] = useState<EvalSummary[] | null>(null);
  const [listError, setListError] = useState<string | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [report, setReport] = useState<MetricsReport | null>(null);
  const [reportError, setReportError] = useState<string | null>(null);
  const [system, setSystem] = useState<string | null>(null);
  const [measure, setMeasure] = useState<string | null>(null);
  const [openQid, setOpenQid] = useState<string | null>(null);

  useEffect(() => {
    api.evals().then(
      (list) => {
        setEvals(list);
        setSelected((s) => s ?? list[0]?.name ?? null);
      },
      (e: unknown) => setListError(e instanceof Error ? e.message : String(e)),
    );
  }, []);

  useEffect(() => {
    if (!selected) return;
    let live = true;
    setReport(null);
    setReportError(null);
    setOpenQid(null);
    api.metrics(selected).then(
      (r) => {
        if (!live) return;
        setReport(r);
        setSystem(defaultComparedSystem(r) ?? null);
        setMeasure(defaultDeltaMeasure(r.measures) ?? null);
      },
      (e: unknown) => {
        if (live) setReportError(e instanceof Error ? e.message : String(e));
      },
    );
    return () => {
      live = false;
    };
  }, [selected]);

  const deltas = useMemo(() => {
    if (!report || !system || !measure) return [];
    const sys = report.systems[system];
    const base = report.systems[report.baseline];
    return sys && base ? perQueryDeltas(sys, base, measure) : [];
  }, [report, system, measure]);

  if (listError) {
    return (
      <p className="error" role="alert">
        Could not list eval outputs: {listError}
      </p>
    );
  }
  if (evals === null) return <p className="muted">Loading eval outputs…</p>;
  if (evals.length === 0) return <EmptyState />;

  const others = report ? Object.keys(report.systems).filter((s) => s !== report.baseline) : [];
  const perQueryMeasures = report ? orderMeasures(report.measures).filter((m) => Object.values(report.systems).some((s) => Object.values(s.perQuery)[0]?.[m] !== undefined)) : [];

  return (
    <div className="offline">
      <div className="toolbar controls">
        <label>
          Eval output{' '}
          <select value={selected ?? ''} onChange={(e) => setSelected(e.target.value)} data-testid="eval-select">
            {evals.map((e) => (
              <option key={e.name} value={e.name}>
                {e.name}
                {e.collection && e.collection !== e.name ? ` (${e.collection})` : ''}
              </option>
            ))}
          </select>
        </label>
        {report && others.length > 0 ? (
          <label>
            Compare{' '}
            <select value={system ?? ''} onChange={(e) => setSystem(e.target.value)} data-testid="system-select">
              {others.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>{' '}
            with {report.baseline}
          </label>
        ) : null}
        {report && perQueryMeasures.length > 0 ? (
          <label>
            on{' '}
            <select value={measure ?? ''} onChange={(e) => setMeasure(e.target.value)} data-testid="measure-select">
              {perQueryMeasures.map((m) => (
                <option key={m} value={m}>
                  {measureLabel(m)}
                </option>
              ))}
            </select>
          </label>
        ) : null}
      </div>
      {reportError ? (
        <p className="error" role="alert">
          Could not load {selected}: {reportError}
        </p>
      ) : null}
      {!report && !reportError ? <p className="muted">Loading {selected}…</p> : null}
      {report ? (
        <>
          <section className="panel" aria-labelledby="summary-title">
            <header className="panel-head">
              <h2 id="summary-title">
                {report.collection.name}
                <span className="muted small">
                  {' '}
                  · {report.collection.queries.toLocaleString('en-US')} queries · {report.collection.documents.toLocaleString('en-US')} documents
                  · depth {report.depth}
                  {report.model ? ` · ${report.model.id}${report.model.revision ? `@${report.model.revision.slice(0, 10)}` : ''}` : ''}
                  {report.createdAt ? ` · ${new Date(report.createdAt).toLocaleString('en-GB', { timeZone: 'UTC' })} UTC` : ''}
                </span>
              </h2>
            </header>
            <MetricsTable report={report} />
          </section>
          {system && measure ? (
            others.length > 0 ? (
              <DeltaPanel
                deltas={deltas}
                measure={measure}
                system={system}
                baseline={report.baseline}
                onOpenQuery={setOpenQid}
                selectedQid={openQid}
              />
            ) : null
          ) : null}
          {openQid && system && selected ? (
            <DrillDown evalName={selected} qid={openQid} baseline={report.baseline} system={system} onClose={() => setOpenQid(null)} />
          ) : null}
          <RecallPanel curves={report.firstStageRecall ?? {}} />
        </>
      ) : null}
    </div>
  );
}
