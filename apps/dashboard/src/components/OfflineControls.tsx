import { measureLabel } from '../data.js';
import type { EvalSummary, MetricsReport } from '../types.js';

export interface OfflineControlsProps {
  evals: EvalSummary[];
  selected: string | null;
  onSelect: (name: string) => void;
  report: MetricsReport | null;
  /** The systems other than the baseline. */
  others: string[];
  system: string | null;
  onSystem: (system: string) => void;
  /** The measures with per-query values. */
  measures: string[];
  measure: string | null;
  onMeasure: (measure: string) => void;
}

/** Which eval output, which system against the baseline, and on which measure. */
export function OfflineControls({
  evals,
  selected,
  onSelect,
  report,
  others,
  system,
  onSystem,
  measures,
  measure,
  onMeasure,
}: OfflineControlsProps) {
  return (
    <div className="toolbar controls">
      <label>
        Eval output{' '}
        <select value={selected ?? ''} onChange={(e) => onSelect(e.target.value)} data-testid="eval-select">
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
          <select value={system ?? ''} onChange={(e) => onSystem(e.target.value)} data-testid="system-select">
            {others.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>{' '}
          with {report.baseline}
        </label>
      ) : null}
      {report && measures.length > 0 ? (
        <label>
          on{' '}
          <select value={measure ?? ''} onChange={(e) => onMeasure(e.target.value)} data-testid="measure-select">
            {measures.map((m) => (
              <option key={m} value={m}>
                {measureLabel(m)}
              </option>
            ))}
          </select>
        </label>
      ) : null}
    </div>
  );
}
