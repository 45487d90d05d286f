import { useMemo } from 'react';
import { movementLabel, rankMovements } from '../data.js';
import type { MovedItem } from '../data.js';
import { RankedHit } from './RankedHit.js';
import type { Rankings } from './useRankings.js';

export interface RankingColumnsProps {
  data: Rankings;
  evalName: string;
  baseline: string;
  system: string;
  depth: number;
}

function MovementBadge({ move, baseline }: { move: MovedItem | undefined; baseline: string }) {
  const kind = move?.movement.kind ?? 'same';
  return (
    <span
      className={`move ${kind}`}
      data-testid="movement"
      title={move?.baselineRank ? `${baseline} rank ${move.baselineRank}` : `not retrieved by ${baseline}`}
    >
      {move ? movementLabel(move.movement) : ''}
    </span>
  );
}

/** The top `depth` of both rankings side by side; the system's hits say how far they moved from the baseline. */
export function RankingColumns({ data, evalName, baseline, system, depth }: RankingColumnsProps) {
  const moves = useMemo<MovedItem[]>(
    () =>
      rankMovements(
        data.baseline.map((r) => r.docId),
        data.system.slice(0, depth).map((r) => r.docId),
      ),
    [data, depth],
  );
  return (
    <div className="side-by-side">
      <div>
        <h3>{baseline}</h3>
        <ol className="ranking" data-testid="ranking-baseline">
          {data.baseline.slice(0, depth).map((r) => (
            <RankedHit key={r.docId} row={r} evalName={evalName} qrels={data.qrels} />
          ))}
        </ol>
      </div>
      <div>
        <h3>{system}</h3>
        <ol className="ranking" data-testid="ranking-system">
          {data.system.slice(0, depth).map((r, i) => (
            <RankedHit
              key={r.docId}
              row={r}
              evalName={evalName}
              qrels={data.qrels}
              movement={<MovementBadge move={moves[i]} baseline={baseline} />}
            />
          ))}
        </ol>
      </div>
    </div>
  );
}
