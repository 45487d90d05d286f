import { useMemo, useState } from 'react';
import { paginate } from '../data.js';
import type { QueryDelta } from '../data.js';
import { Pager } from './Pager.js';
import { QueryDeltaTable } from './QueryDeltaTable.js';

const PAGE_SIZE = 25;

export interface QueryListProps {
  deltas: QueryDelta[];
  system: string;
  baseline: string;
  selectedQid: string | null;
  onOpenQuery: (qid: string) => void;
}

/** The per-query deltas as a table, filtered by query id and paged. */
export function QueryList({ deltas, system, baseline, selectedQid, onOpenQuery }: QueryListProps) {
  const [filter, setFilter] = useState('');
  const [page, setPage] = useState(0);
  const filtered = useMemo(() => {
    const f = filter.trim();
    return f === '' ? deltas : deltas.filter((d) => d.qid.includes(f));
  }, [deltas, filter]);
  const view = paginate(filtered, page, PAGE_SIZE);

  return (
    <div className="query-list">
      <div className="toolbar">
        <label>
          Find query{' '}
          <input
            type="search"
            value={filter}
            placeholder="query id"
            onChange={(e) => {
              setFilter(e.target.value);
              setPage(0);
            }}
          />
        </label>
        <span className="muted">
          {filtered.length.toLocaleString('en-US')} queries · page {view.page + 1} of {view.pages}
        </span>
        <Pager page={view.page} pages={view.pages} onPage={setPage} />
      </div>
      <QueryDeltaTable
        rows={view.items}
        system={system}
        baseline={baseline}
        selectedQid={selectedQid}
        onOpenQuery={onOpenQuery}
      />
    </div>
  );
}
