import { formatNumber, formatSigned, TIE_EPSILON } from '../data.js';
import type { QueryDelta } from '../data.js';

export interface QueryDeltaTableProps {
  rows: QueryDelta[];
  system: string;
  baseline: string;
  selectedQid: string | null;
  onOpenQuery: (qid: string) => void;
}

function deltaClass(delta: number): string {
  return `num ${delta > TIE_EPSILON ? 'pos' : delta < -TIE_EPSILON ? 'neg' : ''}`;
}

/** One page of queries: both systems' scores, the Δ, and a button that opens the query's rankings. */
export function QueryDeltaTable({ rows, system, baseline, selectedQid, onOpenQuery }: QueryDeltaTableProps) {
  return (
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
        {rows.map((d) => (
          <tr key={d.qid} className={d.qid === selectedQid ? 'selected' : undefined}>
            <th scope="row">{d.qid}</th>
            <td className="num">{formatNumber(d.baseline)}</td>
            <td className="num">{formatNumber(d.system)}</td>
            <td className={deltaClass(d.delta)}>{formatSigned(d.delta)}</td>
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
  );
}
