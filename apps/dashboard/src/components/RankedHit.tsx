import type { ReactNode } from 'react';
import { formatNumber } from '../data.js';
import type { RunRow } from '../types.js';
import { Passage } from './Passage.js';
import { Relevance } from './Relevance.js';

export interface RankedHitProps {
  row: RunRow;
  evalName: string;
  qrels: Record<string, number> | null;
  /** Shown between the relevance label and the score (the system column's rank movement). */
  movement?: ReactNode;
}

/** One document of a ranking: rank, id, relevance, score and passage text. */
export function RankedHit({ row, evalName, qrels, movement }: RankedHitProps) {
  return (
    <li data-doc={row.docId}>
      <div className="hit-head">
        <span className="rank">{row.rank}</span>
        <span className="doc">{row.docId}</span>
        <Relevance qrels={qrels} docId={row.docId} />
        {movement}
        <span className="score" title="run score">
          {formatNumber(row.score)}
        </span>
      </div>
      <Passage row={row} evalName={evalName} />
    </li>
  );
}
