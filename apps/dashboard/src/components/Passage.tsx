import { useEffect, useState } from 'react';
import { api } from '../api.js';
import type { RunRow } from '../types.js';

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

/** A ranked document's text: from the run row when it carries it, else fetched once per eval and document. */
export function Passage({ row, evalName }: { row: RunRow; evalName: string }) {
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
