import { useEffect, useMemo, useRef, useState } from 'react';
import { api } from '../api.js';
import { formatNumber, movementLabel, rankMovements } from '../data.js';
import type { MovedItem } from '../data.js';
import type { RunRow } from '../types.js';

export interface DrillDownProps {
  evalName: string;
  qid: string;
  baseline: string;
  system: string;
  onClose: () => void;
}

interface Loaded {
  baseline: RunRow[];
  system: RunRow[];
  qrels: Record<string, number> | null;
  qrelsError: string | null;
}

const passageCache = new Map<string, Promise<string | null>>();

function passageText(evalName: string, id: string): Promise<string | null> {
  const key = `${evalName}\u0000${id}`;
  let p = passageCache.get(key);
  if (!p) {
    p = api.passage(evalName, id).then(
      // Passage text already starts with the title (BEIR convention: title + " " + text).
      (x) => x.text,
      () => null,
    );
    passageCache.set(key, p);
  }
  return p;
}

function Relevance({ qrels, docId }: { qrels: Record<string, number> | null; docId: string }) {
  if (qrels === null) return null; // no judgments available: say nothing rather than "unjudged"
  const grade = qrels[docId];
  if (grade === undefined) return <span className="rel unjudged">unjudged</span>;
  if (grade <= 0) return <span className="rel nonrel">not relevant</span>;
  return <span className={`rel rel${Math.min(grade, 4)}`}>relevant {grade}</span>;
}

function Passage({ row, evalName }: { row: RunRow; evalName: string }) {
  const [text, setText] = useState<string | null | undefined>(row.text);
  useEffect(() => {
    if (row.text !== undefined) return;
    let live = true;
    void passageText(evalName, row.docId).then((t) => {
      if (live) setText(t);
    });
    return () => {
      live = false;
    };
  }, [evalName, row.docId, row.text]);
  if (text === undefined) return <p className="passage muted">loading passage…</p>;
  if (text === null) return null; // the summary line says why
  return <p className="passage">{text}</p>;
}

/** Both rankings of one query side by side, with relevance labels, rank movements and passage text. */
export function DrillDown({ evalName, qid, baseline, system, onClose }: DrillDownProps) {
  const [depth, setDepth] = useState(10);
  const [state, setState] = useState<{ loading: boolean; error: string | null; data: Loaded | null }>({ loading: true, error: null, data: null });
  const headingRef = useRef<HTMLHeadingElement>(null);
  const [queryText, setQueryText] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    setQueryText(null);
    api.queryText(evalName, qid).then(
      (t) => {
        if (live) setQueryText(t);
      },
      () => undefined,
    );
    return () => {
      live = false;
    };
  }, [evalName, qid]);

  useEffect(() => {
    let live = true;
    setState({ loading: true, error: null, data: null });
    Promise.all([
      api.run(evalName, baseline, qid),
      api.run(evalName, system, qid),
      api.qrels(evalName, qid).then(
        (q) => ({ q, e: null as string | null }),
        (e: unknown) => ({ q: null, e: e instanceof Error ? e.message : String(e) }),
      ),
    ]).then(
      ([b, s, q]) => {
        if (live) setState({ loading: false, error: null, data: { baseline: b, system: s, qrels: q.q, qrelsError: q.e } });
      },
      (e: unknown) => {
        if (live) setState({ loading: false, error: e instanceof Error ? e.message : String(e), data: null });
      },
    );
    return () => {
      live = false;
    };
  }, [evalName, qid, baseline, system]);

  useEffect(() => {
    headingRef.current?.focus();
  }, [qid]);

  const moves = useMemo<MovedItem[]>(() => {
    if (!state.data) return [];
    return rankMovements(
      state.data.baseline.map((r) => r.docId),
      state.data.system.slice(0, depth).map((r) => r.docId),
    );
  }, [state.data, depth]);

  const data = state.data;
  const relevantTotal = data?.qrels ? Object.values(data.qrels).filter((g) => g > 0).length : null;
  const foundIn = (rows: RunRow[]) => (data?.qrels ? rows.slice(0, depth).filter((r) => (data.qrels![r.docId] ?? 0) > 0).length : null);

  return (
    <section className="panel drill" aria-labelledby="drill-title" data-testid="drilldown" data-qid={qid}>
      <header className="panel-head">
        <h2 id="drill-title" tabIndex={-1} ref={headingRef}>
          Query {qid}: {baseline} vs {system}
        </h2>
        <div className="toolbar">
          <label>
            Show top{' '}
            <select value={depth} onChange={(e) => setDepth(Number(e.target.value))}>
              {[10, 20, 50, 100].map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
            </select>
          </label>
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
          <p className="muted" data-testid="drill-summary">
            {relevantTotal !== null
              ? `${relevantTotal} judged relevant; in the top ${depth}: ${baseline} ${foundIn(data.baseline)}, ${system} ${foundIn(data.system)}.`
              : `Relevance labels unavailable (${data.qrelsError ?? 'no qrels'}).`}
          </p>
          <div className="side-by-side">
            <div>
              <h3>{baseline}</h3>
              <ol className="ranking" data-testid="ranking-baseline">
                {data.baseline.slice(0, depth).map((r) => (
                  <li key={r.docId} data-doc={r.docId}>
                    <div className="hit-head">
                      <span className="rank">{r.rank}</span>
                      <span className="doc">{r.docId}</span>
                      <Relevance qrels={data.qrels} docId={r.docId} />
                      <span className="score" title="run score">
                        {formatNumber(r.score)}
                      </span>
                    </div>
                    <Passage row={r} evalName={evalName} />
                  </li>
                ))}
              </ol>
            </div>
            <div>
              <h3>{system}</h3>
              <ol className="ranking" data-testid="ranking-system">
                {data.system.slice(0, depth).map((r, i) => {
                  const move = moves[i];
                  const kind = move?.movement.kind ?? 'same';
                  return (
                    <li key={r.docId} data-doc={r.docId}>
                      <div className="hit-head">
                        <span className="rank">{r.rank}</span>
                        <span className="doc">{r.docId}</span>
                        <Relevance qrels={data.qrels} docId={r.docId} />
                        <span
                          className={`move ${kind}`}
                          data-testid="movement"
                          title={move?.baselineRank ? `${baseline} rank ${move.baselineRank}` : `not retrieved by ${baseline}`}
                        >
                          {move ? movementLabel(move.movement) : ''}
                        </span>
                        <span className="score" title="run score">
                          {formatNumber(r.score)}
                        </span>
                      </div>
                      <Passage row={r} evalName={evalName} />
                    </li>
                  );
                })}
              </ol>
            </div>
          </div>
        </>
      ) : null}
    </section>
  );
}
