import { ValidationError } from '@dotrank/core';
import type { Qrels } from '@dotrank/datasets';
import { strcmp } from '@dotrank/datasets';
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
  /**
   * Evaluate exactly these queries (those without judgments are left out; those missing from the run score 0),
   * in place of the queries of the run. For comparing runs on one query set.
   */
  queries?: Iterable<string>;
  /** trec_eval `-M`: evaluate only the first N results per query (after re-sorting); default all. */
  maxResults?: number;
  /**
   * trec_eval `-J` (judged-only, "condensed" lists): retrieved documents without a judgment (not in the qrels, or
   * with a negative grade) are removed before measuring, the ranks closing up. Applied after `maxResults`.
   */
  judgedOnly?: boolean;
}

export interface EvalResult {
  /** Measure names as asked (see parseMeasures), e.g. `ndcg_cut_10`, `P_10`, `map`, `nDCG@10`. */
  measures: string[];
  /** Per evaluated query (in trec_eval's order: qid by strcmp), measure -> value. */
  perQuery: Map<string, Record<string, number>>;
  /** Mean over the evaluated queries (count measures: sums; `num_q`: the number of queries). */
  aggregate: Record<string, number>;
  numQueries: number;
  /** Evaluated queries the run has no results for (scored 0; trec_eval -q -c does not print them). */
  missing?: Set<string>;
}

// trec_eval's relevance sentinels for retrieved documents (form_res_rels.c).
const RELVALUE_NONPOOL = -1; // not in the qrels
const RELVALUE_UNJUDGED = -2; // in the qrels with a negative grade

/** One query's ranking joined with its judgments, as trec_eval's `te_form_res_rels` builds it. */
interface ResRels {
  /** Grade of each retrieved doc in trec_eval order, or a RELVALUE_* sentinel. */
  rels: Int32Array;
  /** Judged docs (grade >= 0) per grade. */
  relLevels: number[];
}

interface Ranked {
  docId: string;
  sim: number;
}

/** trec_eval's comp_sim_docno on float32 scores: score descending, ties by docid descending (strcmp). */
function compareRanked(a: Ranked, b: Ranked): number {
  if (a.sim > b.sim) return -1;
  if (a.sim < b.sim) return 1;
  return strcmp(b.docId, a.docId);
}

/** In trec_eval order already (as runs are usually written)? One pass, no allocation. */
function inTrecOrder(entries: readonly { docId: string; score: number }[]): boolean {
  for (let i = 1; i < entries.length; i++) {
    const a = Math.fround(entries[i - 1]!.score);
    const b = Math.fround(entries[i]!.score);
    if (a < b || (a === b && strcmp(entries[i - 1]!.docId, entries[i]!.docId) < 0)) return false;
  }
  return true;
}

/**
 * Duplicate docids across the queries of one evaluation: doc id -> number of the query it was last seen in. One map
 * for all queries costs a third of a new Set per query (no allocation, no rehashing as it grows).
 */
const MAX_TRACKED_DOCS = 1 << 20;

interface DuplicateCheck {
  seen: Map<string, number>;
  query: number;
}

function formResRels(
  qid: string,
  docs: ReadonlyMap<string, number>,
  entries: readonly { docId: string; score: number }[],
  maxResults: number,
  judgedOnly: boolean,
  lastSeenIn: DuplicateCheck,
): ResRels {
  let ranked: readonly { docId: string }[] = entries;
  if (!inTrecOrder(entries)) {
    const copy: Ranked[] = new Array<Ranked>(entries.length);
    for (let i = 0; i < entries.length; i++)
      copy[i] = { docId: entries[i]!.docId, sim: Math.fround(entries[i]!.score) };
    ranked = copy.sort(compareRanked);
  }
  const stamp = ++lastSeenIn.query;
  const { seen } = lastSeenIn;
  if (seen.size > MAX_TRACKED_DOCS) seen.clear(); // stamps are per query: bounded memory over huge collections
  for (const entry of ranked) {
    if (seen.get(entry.docId) === stamp)
      throw new ValidationError('run', `duplicate document ${entry.docId} for query ${qid}`);
    seen.set(entry.docId, stamp);
  }
  const n = Math.min(ranked.length, maxResults);
  let rels = new Int32Array(n);
  let kept = 0;
  for (let i = 0; i < n; i++) {
    const rel = docs.get(ranked[i]!.docId);
    const value = rel === undefined ? RELVALUE_NONPOOL : rel < 0 ? RELVALUE_UNJUDGED : rel;
    if (judgedOnly && value < 0) continue;
    rels[kept++] = value;
  }
  if (kept < n) rels = rels.slice(0, kept);
  const relLevels: number[] = [];
  for (const rel of docs.values()) {
    if (rel >= 0) relLevels[rel] = (relLevels[rel] ?? 0) + 1;
  }
  return { rels, relLevels };
}

/** Judged documents with a grade >= level (trec_eval's num_rel); level 0 counts judged non-relevant ones too. */
function numRelevant(relLevels: readonly number[], level: number): number {
  let count = 0;
  for (let i = Math.max(level, 0); i < relLevels.length; i++) count += relLevels[i] ?? 0;
  return count;
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
function dcg(grades: ArrayLike<number>, depth: number): number {
  let sum = 0;
  const n = Math.min(depth, grades.length);
  for (let i = 0; i < n; i++) {
    const gain = grades[i]!;
    if (gain > 0) sum += gain / Math.log2(i + 2);
  }
  return sum;
}

function relevantInTop(rels: Int32Array, k: number, level: number): number {
  let count = 0;
  const n = Math.min(k, rels.length);
  for (let i = 0; i < n; i++) if (rels[i]! >= level) count++;
  return count;
}

/** Sum of precision at each relevant document in the top `depth` (AP's numerator). */
function precisionSum(rels: Int32Array, depth: number, level: number): number {
  let relSoFar = 0;
  let sum = 0;
  const n = Math.min(depth, rels.length);
  for (let i = 0; i < n; i++) {
    if (rels[i]! >= level) {
      relSoFar++;
      sum += relSoFar / (i + 1);
    }
  }
  return sum;
}

function computeMeasure(m: Measure, r: ResRels, globalLevel: number): number {
  const { rels } = r;
  const numRet = rels.length;
  // trec_eval counts as relevant any grade >= level; a level of 0 still never counts unjudged documents (< 0)
  const level = Math.max(m.rel ?? globalLevel, 0);
  switch (m.family) {
    case 'num_q':
      return 1;
    case 'num_ret':
      return numRet;
    case 'num_rel':
      return numRelevant(r.relLevels, level);
    case 'num_rel_ret':
      return relevantInTop(rels, numRet, level);
    case 'map':
    case 'map_cut': {
      // m_map.c / m_map_cut.c: precision at each relevant retrieved doc (in the top k), over all relevant docs
      const numRel = numRelevant(r.relLevels, level);
      if (numRel === 0) return 0;
      return precisionSum(rels, m.family === 'map' ? numRet : m.cutoff!, level) / numRel;
    }
    case 'recip_rank':
    case 'recip_rank_cut': {
      const depth = m.family === 'recip_rank' ? numRet : Math.min(numRet, m.cutoff!);
      for (let i = 0; i < depth; i++) if (rels[i]! >= level) return 1 / (i + 1);
      return 0;
    }
    case 'P':
      // m_P.c: the denominator is the cutoff even when fewer docs were retrieved
      return relevantInTop(rels, m.cutoff!, level) / m.cutoff!;
    case 'recall': {
      const numRel = numRelevant(r.relLevels, level);
      return numRel === 0 ? 0 : relevantInTop(rels, m.cutoff!, level) / numRel;
    }
    case 'success':
      return relevantInTop(rels, m.cutoff!, level) > 0 ? 1 : 0;
    case 'Rprec': {
      const numRel = numRelevant(r.relLevels, level);
      const depth = Math.min(numRet, numRel);
      return depth === 0 ? 0 : relevantInTop(rels, depth, level) / numRel;
    }
    case 'bpref':
      return bpref(r, level);
    case 'judged': {
      // ir_measures Judged@k: the share of the top min(k, retrieved) that has a judgment (any grade, even negative)
      const depth = Math.min(numRet, m.cutoff!);
      if (depth === 0) return 0;
      let judged = 0;
      for (let i = 0; i < depth; i++) if (rels[i] !== RELVALUE_NONPOOL) judged++;
      return judged / depth;
    }
    case 'ndcg_cut': {
      const ideal = dcg(idealGains(r.relLevels), m.cutoff!);
      const actual = dcg(rels, m.cutoff!);
      return ideal > 0 ? actual / ideal : actual;
    }
    case 'ndcg': {
      const gains = idealGains(r.relLevels);
      const ideal = dcg(gains, gains.length);
      return ideal > 0 ? dcg(rels, numRet) / ideal : 0;
    }
  }
}

/**
 * m_bpref.c: for each judged relevant document retrieved, 1 - (judged non-relevant documents ranked above it,
 * at most R) / min(judged non-relevant, R); summed and divided by R. Documents outside the pool or with a negative
 * grade are skipped; with no non-relevant document above, a relevant one counts 1.
 */
function bpref(r: ResRels, level: number): number {
  const numRel = numRelevant(r.relLevels, level);
  let numNonrel = 0;
  for (let j = 0; j < level; j++) numNonrel += r.relLevels[j] ?? 0;
  let nonrelSoFar = 0;
  let sum = 0;
  for (const rel of r.rels) {
    if (rel < 0) continue;
    if (rel < level) nonrelSoFar++;
    else if (nonrelSoFar > 0) sum += 1 - Math.min(nonrelSoFar, numRel) / Math.min(numNonrel, numRel);
    else sum += 1;
  }
  return numRel > 0 ? sum / numRel : sum;
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
  const chosen = options.queries ? new Set(options.queries) : undefined;
  const qids = [...qrels.keys()].filter((q) => !chosen || chosen.has(q)).sort(strcmp);
  const perQuery = new Map<string, Record<string, number>>();
  const missing = new Set<string>();
  const sums: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  const duplicates: DuplicateCheck = { seen: new Map(), query: 0 };
  for (const qid of qids) {
    const entries = run.get(qid);
    if (entries === undefined) {
      if (!options.allQueries && !chosen) continue; // no results: ignored unless -c
      missing.add(qid);
    }
    const r = formResRels(qid, qrels.get(qid)!, entries ?? [], maxResults, options.judgedOnly === true, duplicates);
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
  for (const m of measures) {
    const name = m.name;
    if (m.family === 'num_q') aggregate[name] = numQueries;
    else aggregate[name] = isCountMeasure(name) ? sums[name]! : sums[name]! / numQueries;
  }
  return { measures: names, perQuery, aggregate, numQueries, missing };
}
