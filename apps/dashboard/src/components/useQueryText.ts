import { useEffect, useState } from 'react';
import { api } from '../api.js';

/** The text of query `qid`, or null while loading or when the eval does not have it. */
export function useQueryText(evalName: string, qid: string): string | null {
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
  return queryText;
}
