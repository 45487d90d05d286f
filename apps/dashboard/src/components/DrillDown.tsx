import { useEffect, useRef, useState } from 'react';
import type { RunRow } from '../types.js';
import { RankingColumns } from './RankingColumns.js';
import { useQueryText } from './useQueryText.js';
import { useRankings } from './useRankings.js';
import type { Rankings } from './useRankings.js';

export interface DrillDownProps {
  evalName: string;
  qid: string;
  baseline: string;
  system: string;
  onClose: () => void;
}

const DEPTHS = [10, 20, 50, 100];

function DepthSelect({ depth, onDepth }: { depth: number; onDepth: (depth: number) => void }) {
  return (
    <label>
      Show top{' '}
      <select value={depth} onChange={(e) => onDepth(Number(e.target.value))}>
        {DEPTHS.map((n) => (
          <option key={n} value={n}>
            {n}
          </option>
        ))}
      </select>
    </label>
  );
}

/** How many judged-relevant documents there are, and how many each system found in its top `depth`. */
function RelevanceSummary({
  data,
  baseline,
  system,
  depth,
}: {
  data: Rankings;
  baseline: string;
  system: string;
  depth: number;
}) {
  const qrels = data.qrels;
  const foundIn = (rows: RunRow[]) =>
    qrels ? rows.slice(0, depth).filter((r) => (qrels[r.docId] ?? 0) > 0).length : null;
  return (
    <p className="muted" data-testid="drill-summary">
      {qrels
        ? `${Object.values(qrels).filter((g) => g > 0).length} judged relevant; in the top ${depth}: ${baseline} ${foundIn(data.baseline)}, ${system} ${foundIn(data.system)}.`
        : `Relevance labels unavailable (${data.qrelsError ?? 'no qrels'}).`}
    </p>
  );
}

/** Both rankings of one query side by side, with relevance labels, rank movements and passage text. */
export function DrillDown({ evalName, qid, baseline, system, onClose }: DrillDownProps) {
  const [depth, setDepth] = useState(10);
  const queryText = useQueryText(evalName, qid);
  const state = useRankings(evalName, qid, baseline, system);
  const headingRef = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    headingRef.current?.focus();
  }, [qid]);
  const data = state.data;

  return (
    <section className="panel drill" aria-labelledby="drill-title" data-testid="drilldown" data-qid={qid}>
      <header className="panel-head">
        <h2 id="drill-title" tabIndex={-1} ref={headingRef}>
          Query {qid}: {baseline} vs {system}
        </h2>
        <div className="toolbar">
          <DepthSelect depth={depth} onDepth={setDepth} />
          <button type="button" onClick={onClose}>
            Close
          </button>
        </div>
      </header>
      {queryText ? (
        <p className="query-text" data-testid="query-text">
          “{queryText}”
        </p>
      ) : null}
      {state.loading ? <p className="muted">Loading both rankings…</p> : null}
      {state.error ? (
        <p className="error" role="alert">
          Could not load the runs: {state.error}
        </p>
      ) : null}
      {data ? (
        <>
          <RelevanceSummary data={data} baseline={baseline} system={system} depth={depth} />
          <RankingColumns data={data} evalName={evalName} baseline={baseline} system={system} depth={depth} />
        </>
      ) : null}
    </section>
  );
}
