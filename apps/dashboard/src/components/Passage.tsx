import { useEffect, useState } from 'react';
import { api } from '../api.js';
import type { BestPassage, RunRow } from '../types.js';

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
  const parts = row.passage ? passageParts(text, row.passage) : null;
  if (!parts) return <p className="passage">{text}</p>;
  return (
    <p className="passage">
      {parts.before}
      <mark className="best-passage" title={`best passage (score ${row.passage!.score.toFixed(4)})`}>
        {parts.best}
      </mark>
      {parts.after}
    </p>
  );
}

/**
 * The document's text cut around its best passage, or null when the offsets do not point at the passage's text (a
 * corpus changed since the eval): then nothing is highlighted rather than the wrong words.
 */
export function passageParts(
  text: string,
  passage: BestPassage,
): { before: string; best: string; after: string } | null {
  if (passage.start < 0 || passage.end > text.length || passage.start >= passage.end) return null;
  const best = text.slice(passage.start, passage.end);
  if (best !== passage.text) return null;
  return { before: text.slice(0, passage.start), best, after: text.slice(passage.end) };
}
