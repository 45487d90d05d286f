import { useCallback, useEffect, useRef, useState } from 'react';
import { api } from '../api.js';
import { onlineApi } from '../online-api.js';
import type { JudgeItem } from '../online-types.js';

const GRADES = ['0 not relevant', '1 related', '2 relevant', '3 perfect'];

/** The keys 0-3 grade wherever the focus is, except in a text field. */
function useGradeKeys(active: boolean, gradeRef: { current: (value: number) => Promise<void> }) {
  useEffect(() => {
    if (!active) return;
    const onKey = (e: globalThis.KeyboardEvent) => {
      const target = e.target as HTMLElement | null;
      if (!/^[0-3]$/.test(e.key) || target?.closest('input, textarea, select')) return;
      e.preventDefault();
      void gradeRef.current(Number(e.key));
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [active, gradeRef]);
}

/** The eval outputs whose query sets can be pooled (none when the server has no eval folder). */
function useEvalNames(active: boolean): string[] {
  const [names, setNames] = useState<string[]>([]);
  useEffect(() => {
    if (!active) return;
    api.evals().then(
      (list) => setNames(list.map((e) => e.name)),
      () => setNames([]), // no eval folder: logged traffic is the only pool
    );
  }, [active]);
  return names;
}

/** Where the pool comes from: logged traffic (the empty value) or one eval output's query set. */
function PoolSelect({
  names,
  value,
  onChange,
}: {
  names: string[];
  value: string | null;
  onChange: (v: string | null) => void;
}) {
  return (
    <label className="muted small">
      Pool from{' '}
      <select
        data-testid="judge-source"
        value={value ?? ''}
        onChange={(e) => onChange(e.target.value === '' ? null : e.target.value)}
      >
        <option value="">logged traffic</option>
        {names.map((name) => (
          <option key={name} value={name}>
            eval: {name}
          </option>
        ))}
      </select>
    </label>
  );
}

function ItemPanel({ item, grade }: { item: JudgeItem; grade: (value: number) => Promise<void> }) {
  return (
    <section className="panel" data-testid="judge-item" data-qid={item.qid} data-doc-id={item.docId}>
      <header className="panel-head">
        <h2>
          Query: <span data-testid="judge-query">{item.query}</span>
        </h2>
        <span className="muted small">
          {item.docId} · {item.remaining} left for this query
        </span>
      </header>
      <p className="passage">{item.text || '(no text found for this document)'}</p>
      <div role="group" aria-label="Grade">
        {GRADES.map((label, value) => (
          <button key={value} type="button" onClick={() => void grade(value)} data-testid={`grade-${value}`}>
            {label}
          </button>
        ))}
      </div>
    </section>
  );
}

/**
 * Judging without qrels: one unjudged document of the pool (both systems' top-k of logged queries, or of an eval
 * output's query set) at a time, beside its query; keys 0-3 grade it and move on. Grades go to the judgments store;
 * /api/judgments/qrels writes them out.
 */
export function JudgeView({ active }: { active: boolean }) {
  const evalNames = useEvalNames(active);
  const [pool, setPool] = useState<string | null>(null);
  const [item, setItem] = useState<JudgeItem | null>(null);
  /** The pool asked for last: an answer for another pool (it changed while the request was out) is dropped. */
  const current = useRef<string | null>(pool);
  const [judged, setJudged] = useState(0);
  const [done, setDone] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const busy = useRef(false);
  const gradeRef = useRef<(value: number) => Promise<void>>(async () => undefined);

  const load = useCallback(async () => {
    current.current = pool;
    try {
      const next = await onlineApi.nextToJudge(pool);
      if (current.current !== pool) return;
      setItem(next.item);
      setJudged(next.judged);
      setDone(next.item === null);
      setError(null);
    } catch (e) {
      if (current.current === pool) setError(e instanceof Error ? e.message : String(e));
    }
  }, [pool]);

  // another pool: nothing of the last one stays on screen (or under a grade key) while its first item loads
  const choosePool = (next: string | null) => {
    setItem(null);
    setDone(false);
    setPool(next);
  };

  useEffect(() => {
    if (active) void load();
  }, [active, load]);

  const grade = async (value: number) => {
    if (busy.current) return;
    busy.current = true;
    try {
      await gradeNow(value);
    } finally {
      busy.current = false;
    }
  };
  gradeRef.current = grade;

  async function gradeNow(value: number) {
    if (!item) return;
    try {
      await onlineApi.judge(item, value);
      await load();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  }

  useGradeKeys(active, gradeRef);

  return (
    <div className="judge" data-testid="judge-view" data-judged={judged} data-pool={pool ?? ''}>
      {error ? (
        <p className="error" role="alert">
          {error}
        </p>
      ) : null}
      <p className="muted small">
        <span data-testid="judge-count">{judged}</span> judged · press 0-3 to grade ·{' '}
        <a href="/api/judgments/qrels">qrels</a> · <a href="/api/judgments/log">who and when</a> ·{' '}
        <PoolSelect names={evalNames} value={pool} onChange={choosePool} />
      </p>
      {done ? (
        <p data-testid="judge-done">
          {pool === null
            ? 'Nothing left to judge in the pool: log more traffic.'
            : `Every pooled document of eval ${pool} is judged.`}
        </p>
      ) : null}
      {item ? <ItemPanel item={item} grade={grade} /> : null}
    </div>
  );
}
