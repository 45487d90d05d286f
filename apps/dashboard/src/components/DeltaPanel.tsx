import { useMemo } from 'react';
import { Chart } from './Chart.js';
import { deltaChartOption } from './deltaChartOption.js';
import { QueryList } from './QueryList.js';
import { WinTieLossCounts } from './WinTieLossCounts.js';
import { measureLabel, winTieLoss } from '../data.js';
import type { QueryDelta } from '../data.js';

export interface DeltaPanelProps {
  deltas: QueryDelta[];
  measure: string;
  system: string;
  baseline: string;
  onOpenQuery: (qid: string) => void;
  selectedQid: string | null;
}

/** Per-query difference chart (sorted) with win/tie/loss counts and a paginated, searchable query list. */
export function DeltaPanel({ deltas, measure, system, baseline, onOpenQuery, selectedQid }: DeltaPanelProps) {
  const wtl = useMemo(() => winTieLoss(deltas), [deltas]);
  const option = useMemo(
    () => deltaChartOption(deltas, measure, system, baseline),
    [deltas, measure, system, baseline],
  );
  const mean = deltas.length ? deltas.reduce((s, d) => s + d.delta, 0) / deltas.length : null;

  return (
    <section className="panel" aria-labelledby="delta-title">
      <header className="panel-head">
        <h2 id="delta-title">
          Per-query Δ {measureLabel(measure)}: {system} − {baseline}
        </h2>
        <WinTieLossCounts wtl={wtl} mean={mean} />
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
      <QueryList
        deltas={deltas}
        system={system}
        baseline={baseline}
        selectedQid={selectedQid}
        onOpenQuery={onOpenQuery}
      />
    </section>
  );
}
