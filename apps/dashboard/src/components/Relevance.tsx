/** The judged relevance of one document, or nothing when the eval has no judgments. */
export function Relevance({ qrels, docId }: { qrels: Record<string, number> | null; docId: string }) {
  if (qrels === null) return null; // no judgments available: say nothing rather than "unjudged"
  const grade = qrels[docId];
  if (grade === undefined) return <span className="rel unjudged">unjudged</span>;
  if (grade <= 0) return <span className="rel nonrel">not relevant</span>;
  return <span className={`rel rel${Math.min(grade, 4)}`}>relevant {grade}</span>;
}
