import type { LiveStats } from '../types.js';
import { formatMs } from './formatMs.js';

/** p50 / p95 / p99 latency of every stage the API reports. */
export function StageLatencyTable({ last, stages }: { last: LiveStats | undefined; stages: string[] }) {
  return (
    <section className="panel" aria-labelledby="stages-title">
      <h2 id="stages-title">Latency by stage</h2>
      {stages.length === 0 ? (
        <p className="muted">No latency observed yet: send a search (Try it tab) and it appears here.</p>
      ) : (
        <table className="stages" data-testid="stage-table">
          <thead>
            <tr>
              <th scope="col">Stage</th>
              <th scope="col" className="num">
                p50
              </th>
              <th scope="col" className="num">
                p95
              </th>
              <th scope="col" className="num">
                p99
              </th>
            </tr>
          </thead>
          <tbody>
            {stages.map((s) => (
              <tr key={s}>
                <th scope="row">{s}</th>
                <td className="num">{formatMs(last?.latency[s]?.p50)}</td>
                <td className="num">{formatMs(last?.latency[s]?.p95)}</td>
                <td className="num">{formatMs(last?.latency[s]?.p99)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
