import { useMemo } from 'react';
import { orderMeasures, perQueryDeltas } from '../data.js';
import type { MetricsReport } from '../types.js';
import { DeltaPanel } from './DeltaPanel.js';
import { DrillDown } from './DrillDown.js';
import { EmptyState } from './EmptyState.js';
import { OfflineControls } from './OfflineControls.js';
import { RecallPanel } from './RecallPanel.js';
import { ReportSummary } from './ReportSummary.js';
import { useEvalList } from './useEvalList.js';
import { useEvalReport } from './useEvalReport.js';

/** The measures some system has per-query values for (the ones a per-query Δ can be drawn on), in display order. */
function perQueryMeasures(report: MetricsReport): string[] {
  return orderMeasures(report.measures).filter((m) =>
    Object.values(report.systems).some((s) => Object.values(s.perQuery)[0]?.[m] !== undefined),
  );
}

export function OfflineView() {
  const { evals, listError, selected, setSelected } = useEvalList();
  const { report, reportError, system, setSystem, measure, setMeasure, openQid, setOpenQid } = useEvalReport(selected);

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

  return (
    <div className="offline">
      <OfflineControls
        evals={evals}
        selected={selected}
        onSelect={setSelected}
        report={report}
        others={others}
        system={system}
        onSystem={setSystem}
        measures={report ? perQueryMeasures(report) : []}
        measure={measure}
        onMeasure={setMeasure}
      />
      {reportError ? (
        <p className="error" role="alert">
          Could not load {selected}: {reportError}
        </p>
      ) : null}
      {!report && !reportError ? <p className="muted">Loading {selected}…</p> : null}
      {report ? (
        <>
          <ReportSummary report={report} />
          {system && measure && others.length > 0 ? (
            <DeltaPanel
              deltas={deltas}
              measure={measure}
              system={system}
              baseline={report.baseline}
              onOpenQuery={setOpenQid}
              selectedQid={openQid}
            />
          ) : null}
          {openQid && system && selected ? (
            <DrillDown
              evalName={selected}
              qid={openQid}
              baseline={report.baseline}
              system={system}
              onClose={() => setOpenQid(null)}
            />
          ) : null}
          <RecallPanel curves={report.firstStageRecall ?? {}} />
        </>
      ) : null}
    </div>
  );
}
