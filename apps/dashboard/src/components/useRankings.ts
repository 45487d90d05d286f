import { useEffect, useState } from 'react';
import { api } from '../api.js';
import type { BestPassage, RunRow } from '../types.js';

/** Both runs of one query, and its relevance judgments (or why they are missing: the rankings show without them). */
export interface Rankings {
  baseline: RunRow[];
  system: RunRow[];
  qrels: Record<string, number> | null;
  qrelsError: string | null;
}

export interface RankingsState {
  loading: boolean;
  error: string | null;
  data: Rankings | null;
}

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** Loads the baseline's and the system's ranking of query `qid`, with its qrels. */
export function useRankings(evalName: string, qid: string, baseline: string, system: string): RankingsState {
  const [state, setState] = useState<RankingsState>({ loading: true, error: null, data: null });
  useEffect(() => {
    let live = true;
    setState({ loading: true, error: null, data: null });
    Promise.all([
      api.run(evalName, baseline, qid),
      api.run(evalName, system, qid),
      // the system's best passages (windowed doc-scores only): highlighted in its documents, never blocking them
      api.bestPassages(evalName, system, qid).catch(() => new Map<string, BestPassage>()),
      api.qrels(evalName, qid).then(
        (q) => ({ q, e: null as string | null }),
        (e: unknown) => ({ q: null, e: errorText(e) }),
      ),
    ]).then(
      ([b, s, best, q]) => {
        const withPassages = s.map((r) => {
          const passage = best.get(r.docId);
          return passage ? { ...r, passage } : r;
        });
        if (live)
          setState({
            loading: false,
            error: null,
            data: { baseline: b, system: withPassages, qrels: q.q, qrelsError: q.e },
          });
      },
      (e: unknown) => {
        if (live) setState({ loading: false, error: errorText(e), data: null });
      },
    );
    return () => {
      live = false;
    };
  }, [evalName, qid, baseline, system]);
  return state;
}
