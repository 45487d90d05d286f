import type { EvalResult } from './evaluate.js';
import { isCountMeasure } from './measures.js';

/**
 * C printf `%.4f` on a double: the exact binary value rounded to 4 decimals, exact ties to even (glibc).
 * JavaScript's toFixed rounds exact ties up (0.03125 -> "0.0313" where trec_eval prints 0.0312).
 */
export function formatFixed4(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const exact = Math.abs(value).toFixed(100); // exact for the dyadic fractions we meet (< 1e21)
  const dot = exact.indexOf('.');
  const tail = exact.slice(dot + 5);
  let text = value.toFixed(4);
  if (tail[0] === '5' && /^0*$/.test(tail.slice(1))) {
    // an exact tie: round half to even instead of JavaScript's half up
    const digits = exact.slice(0, dot + 5);
    const lastDigit = Number(digits[digits.length - 1]);
    if (lastDigit % 2 === 0) text = (value < 0 ? '-' : '') + digits;
  }
  return text === '-0.0000' ? '-0.0000' : text;
}

/** One trec_eval output line: `%-22s\t%s\t%6.4f` (count measures `%ld`). */
export function formatLine(measure: string, qid: string, value: number): string {
  const shown = isCountMeasure(measure) ? String(Math.trunc(value)) : formatFixed4(value).padStart(6);
  return `${measure.padEnd(22)}\t${qid}\t${shown}`;
}

/**
 * trec_eval's text output: with `perQuery`, every query's measures first (as `trec_eval -q` prints them), then the
 * summary lines for `all`. Queries absent from the run (scored 0 under `-c`) get no per-query lines, as in
 * trec_eval. Ends with a newline.
 */
export function formatTrecEval(result: EvalResult, options: { perQuery?: boolean } = {}): string {
  const lines: string[] = [];
  if (options.perQuery) {
    for (const [qid, values] of result.perQuery) {
      if (result.missing?.has(qid)) continue; // trec_eval -q -c averages them in but prints no line for them
      for (const measure of result.measures) {
        // trec_eval -q does not print num_q per query
        if (measure !== 'num_q' && !/^NumQ$/.test(measure)) lines.push(formatLine(measure, qid, values[measure] ?? 0));
      }
    }
  }
  for (const measure of result.measures) lines.push(formatLine(measure, 'all', result.aggregate[measure] ?? 0));
  return `${lines.join('\n')}\n`;
}
