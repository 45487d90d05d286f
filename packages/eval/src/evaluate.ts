import { ValidationError } from '@dotrank/core';
import type { Qrels } from '@dotrank/datasets';
import { compareTrecOrder, strcmp } from '@dotrank/datasets';
import type { Measure } from './measures.js';
import { DEFAULT_MEASURES, isCountMeasure, parseMeasureList } from './measures.js';

/** What evaluate needs of a run: the rank column, if any, is ignored (trec_eval re-sorts by score). */
export type RunLike = ReadonlyMap<string, readonly { docId: string; score: number }[]>;

export interface EvaluateOptions {
  /** Measure names or specs (see parseMeasures); default DEFAULT_MEASURES. */
  measures?: readonly string[];
  /** trec_eval `-l`: minimum grade counted relevant for binary measures; default 1. nDCG uses raw grades. */
  level?: number;
  /** trec_eval `-c`: average over every query in the qrels; queries missing from the run count as 0. */
  allQueries?: boolean;
  /** trec_eval `-M`: evaluate only the first N results per query (after re-sorting); default all. */
  maxResults?: number;
}

export interface EvalResult {
  /** Canonical (trec_eval printed) measure names, e.g. `ndcg_cut_10`, `P_10`, `map`. */
  measures: string[];
  /** Per evaluated query (in trec_eval's order: qid by strcmp), measure -> value. */
  perQuery: Map<string, Record<string, number>>;
  /** Mean over the evaluated queries (count measures: sums; `num_q`: the number of queries). */
  aggregate: Record<string, number>;
  numQueries: number;
}

// trec_eval's relevance sentinels for retrieved documents (form_res_rels.c).
const RELVALUE_NONPOOL = -1; // not in the qrels
const RELVALUE_UNJUDGED = -2; // in the qrels with a negative grade

/** One query's ranking joined with its judgments, as trec_eval's `te_form_res_rels` builds it. */
interface ResRels {
  /** Grade of each retrieved doc in trec_eval order, or a RELVALUE_* sentinel. */
  rels: number[];
  /** Judged docs (grade >= 0) per grade. */
  relLevels: number[];
  numRel: number;
  numRelRet: number;
}

function formResRels(
  qid: string,
  docs: ReadonlyMap<string, number>,
  entries: readonly { docId: string; score: number }[],
  level: number,
  maxResults: number,
): ResRels {
  const ranked = [...entries].sort(compareTrecOrder).slice(0, maxResults);
  const seen = new Set<string>();
  for (const entry of ranked) {
    if (seen.has(entry.docId)) throw new ValidationError('run', `duplicate document ${entry.docId} for query ${qid}`);
    seen.add(entry.docId);
  }
  const rels = ranked.map((entry) => {
    const rel = docs.get(entry.docId);
    if (rel === undefined) return RELVALUE_NONPOOL;
    return rel < 0 ? RELVALUE_UNJUDGED : rel;
  });
  const relLevels: number[] = [];
  for (const rel of docs.values()) {
    if (rel >= 0) relLevels[rel] = (relLevels[rel] ?? 0) + 1;
  }
  let numRel = 0;
  for (let i = Math.max(level, 0); i < relLevels.length; i++) numRel += relLevels[i] ?? 0;
  let numRelRet = 0;
  for (const rel of rels) if (rel >= 0 && rel >= level) numRelRet++;
  return { rels, relLevels, numRel, numRelRet };
}

/** The ideal ranking's grades: every judged grade > 0, highest first (trec_eval walks rel_levels downwards). */
function idealGains(relLevels: readonly number[]): number[] {
  const gains: number[] = [];
  for (let grade = relLevels.length - 1; grade > 0; grade--) {
    for (let n = relLevels[grade] ?? 0; n > 0; n--) gains.push(grade);
  }
  return gains;
}

/** DCG of the first `depth` grades, trec_eval style: gain = grade when > 0, discount log2(rank + 1), summed in rank order. */
function dcg(grades: readonly number[], depth: number): number {
  let sum = 0;
  const n = Math.min(depth, grades.length);
  for (let i = 0; i < n; i++) {
    const gain = grades[i]!;
    if (gain > 0) sum += gain / Math.log2(i + 2);
  }
  return sum;
}

function relevantInTop(r: ResRels, k: number, level: number): number {
  let count = 0;
  const n = Math.min(k, r.rels.length);
  for (let i = 0; i < n; i++) if (r.rels[i]! >= level) count++;
  return count;
}

function computeMeasure(m: Measure, r: ResRels, level: number): number {
  const numRet = r.rels.length;
  switch (m.family) {
    case 'num_q':
      return 1;
    case 'num_ret':
      return numRet;
    case 'num_rel':
      return r.numRel;
    case 'num_rel_ret':
      return r.numRelRet;
    case 'map': {
      // m_map.c: precision at each relevant retrieved doc, summed, divided by all relevant (0 if none retrieved)
      let relSoFar = 0;
      let sum = 0;
      for (let i = 0; i < numRet; i++) {
        if (r.rels[i]! >= level) {
          relSoFar++;
          sum += relSoFar / (i + 1);
        }
      }
      return relSoFar > 0 ? sum / r.numRel : 0;
    }
    case 'recip_rank':
    case 'recip_rank_cut': {
      const depth = m.family === 'recip_rank' ? numRet : Math.min(numRet, m.cutoff!);
      for (let i = 0; i < depth; i++) if (r.rels[i]! >= level) return 1 / (i + 1);
      return 0;
    }
    case 'P':
      // m_P.c: the denominator is the cutoff even when fewer docs were retrieved
      return relevantInTop(r, m.cutoff!, level) / m.cutoff!;
    case 'recall':
      return r.numRel === 0 ? 0 : relevantInTop(r, m.cutoff!, level) / r.numRel;
    case 'Rprec': {
      const depth = Math.min(numRet, r.numRel);
      return depth === 0 ? 0 : relevantInTop(r, depth, level) / r.numRel;
    }
    case 'ndcg_cut': {
      const ideal = dcg(idealGains(r.relLevels), m.cutoff!);
      const actual = dcg(r.rels, m.cutoff!);
      return ideal > 0 ? actual / ideal : actual;
    }
    case 'ndcg': {
      const gains = idealGains(r.relLevels);
      const ideal = dcg(gains, gains.length);
      return ideal > 0 ? dcg(r.rels, numRet) / ideal : 0;
    }
  }
}

/**
 * Evaluates a run against judgments with trec_eval 9 semantics (see the package README for every rule):
 * queries are those of the qrels that have results (all qrels queries with `allQueries`, missing ones scoring 0);
 * results are re-sorted by float32 score descending, ties by docid in descending strcmp order; binary measures use
 * grade >= level; nDCG uses the raw grades; queries without relevant documents are kept and score 0.
 */
export function evaluate(qrels: Qrels, run: RunLike, options: EvaluateOptions = {}): EvalResult {
  const level = options.level ?? 1;
  if (!Number.isSafeInteger(level) || level < 0)
    throw new ValidationError('level', `must be a non-negative integer, got ${level}`);
  const maxResults = options.maxResults ?? Number.POSITIVE_INFINITY;
  if (maxResults !== Number.POSITIVE_INFINITY && (!Number.isSafeInteger(maxResults) || maxResults < 1)) {
    throw new ValidationError('maxResults', `must be a positive integer, got ${maxResults}`);
  }
  const measures = parseMeasureList(
    options.measures && options.measures.length > 0 ? options.measures : DEFAULT_MEASURES,
  );
  const names = measures.map((m) => m.name);

  // trec_eval reads qrels sorted by qid (strcmp) and evaluates in that order
  const qids = [...qrels.keys()].sort(strcmp);
  const perQuery = new Map<string, Record<string, number>>();
  const sums: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  for (const qid of qids) {
    const entries = run.get(qid);
    if (entries === undefined && !options.allQueries) continue; // no results: ignored unless -c
    const r = formResRels(qid, qrels.get(qid)!, entries ?? [], level, maxResults);
    const values: Record<string, number> = {};
    for (const m of measures) {
      const value = computeMeasure(m, r, level);
      values[m.name] = value;
      sums[m.name]! += value;
    }
    perQuery.set(qid, values);
  }
  const numQueries = perQuery.size;
  if (numQueries === 0) throw new ValidationError('run', 'no queries with both results and relevance judgments');
  const aggregate: Record<string, number> = {};
  for (const name of names) {
    if (name === 'num_q') aggregate[name] = numQueries;
    else aggregate[name] = isCountMeasure(name) ? sums[name]! : sums[name]! / numQueries;
  }
  return { measures: names, perQuery, aggregate, numQueries };
}
