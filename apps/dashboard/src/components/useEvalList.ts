import { useEffect, useState } from 'react';
import { api } from '../api.js';
import type { EvalSummary } from '../types.js';

/** The eval outputs the server has (null while loading), and which one is selected (the first, until the user picks). */
export function useEvalList() {
  const [evals, setEvals] = useState<EvalSummary[] | null>(null);
  const [listError, setListError] = useState<string | null>(null);
  const [selected, setSelected] = useState<string | null>(null);

  useEffect(() => {
    api.evals().then(
      (list) => {
        setEvals(list);
        setSelected((s) => s ?? list[0]?.name ?? null);
      },
      (e: unknown) => setListError(e instanceof Error ? e.message : String(e)),
    );
  }, []);

  return { evals, listError, selected, setSelected };
}
