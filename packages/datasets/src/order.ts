/**
 * C `strcmp` order on the UTF-8 bytes of two strings (= Unicode code point order), as trec_eval compares docnos.
 * JavaScript's `<` compares UTF-16 code units, which differs for characters beyond U+FFFF; this corrects it.
 * Returns a negative number, zero or a positive number.
 */
export function strcmp(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointOrderUnit(x) - codePointOrderUnit(y);
  }
  return a.length - b.length;
}

// Moves surrogates (U+D800..U+DFFF) above the rest of the BMP so code-unit order matches code-point order.
function codePointOrderUnit(unit: number): number {
  if (unit < 0xd800) return unit;
  if (unit <= 0xdfff) return unit + 0x2000;
  return unit - 0x800;
}

/**
 * trec_eval's ranking order: score descending, ties broken by docno in *descending* strcmp order
 * (its `comp_sim_docno`). Any rank column in the input is ignored. trec_eval stores scores as C `float`
 * (`TEXT_RESULTS.sim`, read with `atof`), so scores are compared after rounding to float32: two doubles that
 * round to the same float32 are a tie, broken by docno.
 */
export function compareTrecOrder(a: { score: number; docId: string }, b: { score: number; docId: string }): number {
  const x = Math.fround(a.score);
  const y = Math.fround(b.score);
  if (x > y) return -1;
  if (x < y) return 1;
  return strcmp(b.docId, a.docId);
}
