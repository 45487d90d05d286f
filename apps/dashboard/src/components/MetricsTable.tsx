import {
  formatNumber,
  isJudgedMeasure,
  measureLabel,
  orderMeasures,
  significanceMarker,
  significanceTitle,
} from '../data.js';
import type { MetricsReport } from '../types.js';

/** What the table shows: the mean, the significance marker and, when present, the judged-only group. */
function Caption({ report, judged }: { report: MetricsReport; judged: boolean }) {
  return (
    <caption>
      Mean over {report.collection.queries.toLocaleString('en-US')} queries. † p &lt; 0.05 against{' '}
      <strong>{report.baseline}</strong> (paired randomization test, as <code>dotrank eval</code> reports it); hover a
      value for both p-values and the wins/ties/losses.
      {judged ? (
        <>
          {' '}
          Judged@10: the share of each top 10 that has a judgment; <em>-J</em>: measured on judged documents only
          (condensed lists, as <code>trec_eval -J</code>), so unjudged documents do not count as misses.
        </>
      ) : null}
    </caption>
  );
}

/** One row per system, one column per measure; markers flag significant differences against the baseline. */
export function MetricsTable({ report }: { report: MetricsReport }) {
  const measures = orderMeasures(report.measures);
  // the judged-only group (Judged@10, condensed -J measures) starts with a divider, so the usual columns read as before
  const firstJudged = measures.find(isJudgedMeasure);
  const columnClass = (m: string) => `num${m === firstJudged ? ' judged-first' : ''}`;
  const systems = Object.keys(report.systems).sort((a, b) =>
    a === report.baseline ? -1 : b === report.baseline ? 1 : 0,
  );
  // The best value of a column is bold, unless every system has the same value.
  const best: Record<string, number | undefined> = {};
  for (const m of measures) {
    const values = systems.map((s) => report.systems[s]?.aggregate[m]).filter((v): v is number => v !== undefined);
    const max = Math.max(...values);
    best[m] = values.some((v) => v !== max) ? max : undefined;
  }
  return (
    <div className="table-wrap">
      <table className="metrics" data-testid="metrics-table">
        <Caption report={report} judged={firstJudged !== undefined} />
        <thead>
          <tr>
            <th scope="col">System</th>
            {measures.map((m) => (
              <th scope="col" key={m} className={columnClass(m)} title={m}>
                {measureLabel(m)}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {systems.map((s) => {
            const sys = report.systems[s]!;
            const isBaseline = s === report.baseline;
            return (
              <tr key={s} data-system={s}>
                <th scope="row">
                  {s}
                  {isBaseline ? <span className="tag">baseline</span> : null}
                </th>
                {measures.map((m) => {
                  const value = sys.aggregate[m];
                  const sig = sys.significance?.[m];
                  const marker = isBaseline ? '' : significanceMarker(sig);
                  const isBest = value !== undefined && value === best[m];
                  return (
                    <td
                      key={m}
                      className={`${columnClass(m)}${isBest ? ' best' : ''}`}
                      data-measure={m}
                      data-value={value ?? ''}
                      title={
                        isBaseline
                          ? `${measureLabel(m)} (${m}) of the baseline`
                          : significanceTitle(sig, report.baseline)
                      }
                    >
                      <span className="value">{formatNumber(value)}</span>
                      <span
                        className="marker"
                        aria-label={marker ? `significant, ${significanceTitle(sig, report.baseline)}` : undefined}
                      >
                        {marker}
                      </span>
                    </td>
                  );
                })}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
