import { useMemo, useRef, useState } from 'react';
import type { FormEvent } from 'react';
import { api } from '../api.js';
import { formatNumber, movementLabel, rankMovements } from '../data.js';
import type { SearchResponse } from '../types.js';

interface Side {
  response: SearchResponse | null;
  error: string | null;
}

function Timings({ timings }: { timings: Record<string, number> }) {
  const entries = Object.entries(timings);
  if (entries.length === 0) return null;
  return <span className="muted small">{entries.map(([k, v]) => `${k} ${v.toFixed(1)} ms`).join(' · ')}</span>;
}

function Results({
  title,
  side,
  testId,
  movements,
  k,
}: {
  title: string;
  side: Side;
  testId: string;
  movements?: Map<string, string>;
  k: number;
}) {
  const r = side.response;
  const hits = r ? r.results.slice(0, k) : [];
  return (
    <div className="results" data-testid={testId} data-count={hits.length}>
      <div className="results-head">
        <h3>{title}</h3>
        {r?.degraded ? (
          <span className="badge warn" title={r.reason ?? 'the dense rerank did not run'}>
            degraded{r.reason ? `: ${r.reason}` : ''}
          </span>
        ) : null}
        {r ? <Timings timings={r.timings} /> : null}
      </div>
      {side.error ? (
        <p className="error" role="alert">
          {side.error}
        </p>
      ) : null}
      {r && hits.length === 0 ? <p className="muted">No passage matches this query.</p> : null}
      {r ? (
        <ol className="ranking">
          {hits.map((h) => (
            <li key={h.id} data-doc={h.id}>
              <div className="hit-head">
                <span className="rank">{h.rank}</span>
                <span className="doc">{h.id}</span>
                {movements ? (
                  <span className={`move ${moveClass(movements.get(h.id))}`}>{movements.get(h.id)}</span>
                ) : null}
                <span className="score" title="score">
                  {formatNumber(h.score)}
                </span>
                {h.bm25Score !== null && r.fusion !== 'bm25' ? (
                  <span className="score bm25" title="BM25 score of this passage">
                    BM25 {formatNumber(h.bm25Score)}
                  </span>
                ) : null}
              </div>
              <p className="passage">{h.text}</p>
            </li>
          ))}
        </ol>
      ) : null}
    </div>
  );
}

function moveClass(label: string | undefined): string {
  if (!label) return '';
  if (label.startsWith('↑')) return 'up';
  if (label.startsWith('↓')) return 'down';
  return label === 'new' ? 'new' : 'same';
}

/** The query box, the k picker and the submit button. */
function SearchForm({
  query,
  onQuery,
  k,
  onK,
  busy,
  onSubmit,
}: {
  query: string;
  onQuery: (query: string) => void;
  k: number;
  onK: (k: number) => void;
  busy: boolean;
  onSubmit: (e: FormEvent) => void;
}) {
  return (
    <form className="search-form" role="search" onSubmit={onSubmit}>
      <label htmlFor="q" className="sr-only">
        Query
      </label>
      <input
        id="q"
        type="search"
        value={query}
        onChange={(e) => onQuery(e.target.value)}
        placeholder="e.g. boundary layer heat transfer at hypersonic speed"
        autoComplete="off"
        data-testid="search-input"
      />
      <label>
        k{' '}
        <select value={k} onChange={(e) => onK(Number(e.target.value))}>
          {[5, 10, 20, 50].map((n) => (
            <option key={n} value={n}>
              {n}
            </option>
          ))}
        </select>
      </label>
      <button type="submit" className="primary" disabled={busy || query.trim() === ''} data-testid="search-submit">
        {busy ? 'Searching…' : 'Search'}
      </button>
    </form>
  );
}

/** Candidates the search API reranks by default (`candidates` in /search). */
const CANDIDATE_DEPTH = 100;

/** One query, two rankings: BM25 alone and TAS-B reranked (two /search calls). */
export function TryIt() {
  const [query, setQuery] = useState('');
  const [k, setK] = useState(10);
  const [busy, setBusy] = useState(false);
  const [shownK, setShownK] = useState(10);
  const [bm25, setBm25] = useState<Side>({ response: null, error: null });
  const [tasb, setTasb] = useState<Side>({ response: null, error: null });
  const abort = useRef<AbortController | null>(null);

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault();
    const q = query.trim();
    if (q === '') return;
    abort.current?.abort();
    const controller = new AbortController();
    abort.current = controller;
    setBusy(true);
    const run = async (fusion: string, size: number): Promise<Side> => {
      try {
        return { response: await api.search(q, size, fusion, controller.signal), error: null };
      } catch (error) {
        return { response: null, error: error instanceof Error ? error.message : String(error) };
      }
    };
    // BM25 is asked for the whole candidate list the reranker sees (the API's default depth), so a TAS-B result
    // from BM25 rank 37 shows ↑36 rather than "new"; the page shows the top k of both.
    const [a, b] = await Promise.all([run('bm25', Math.max(k, CANDIDATE_DEPTH)), run('tasb', k)]);
    if (controller.signal.aborted) return;
    setBm25(a);
    setTasb(b);
    setShownK(k);
    setBusy(false);
  };

  const movements = useMemo(() => {
    if (!bm25.response || !tasb.response) return undefined;
    const moved = rankMovements(
      bm25.response.results.map((h) => h.id),
      tasb.response.results.map((h) => h.id),
    );
    return new Map(moved.map((m) => [m.id, movementLabel(m.movement)]));
  }, [bm25, tasb]);

  return (
    <div className="try">
      <SearchForm query={query} onQuery={setQuery} k={k} onK={setK} busy={busy} onSubmit={(e) => void onSubmit(e)} />
      {bm25.response || tasb.response || bm25.error || tasb.error ? (
        <div className="side-by-side">
          <Results title="BM25" side={bm25} testId="results-bm25" k={shownK} />
          <Results title="TAS-B rerank" side={tasb} testId="results-tasb" movements={movements} k={shownK} />
        </div>
      ) : (
        <p className="muted">
          Type a query: the BM25 ranking and the TAS-B reranking of the same candidates appear side by side, with rank
          movements.
        </p>
      )}
    </div>
  );
}
