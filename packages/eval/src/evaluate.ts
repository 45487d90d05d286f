import { ValidationError } from '@dotrank/core';
import type { Qrels, QueryColumns, RunColumns } from '@dotrank/datasets';
import { strcmp } from '@dotrank/datasets';
import type { Measure } from './measures.js';
import { DEFAULT_MEASURES, isCountMeasure, parseMeasureList } from './measures.js';

/** What evaluate needs of a run: the rank column, if any, is ignored (trec_eval re-sorts by score). */
export type RunLike = ReadonlyMap<string, readonly { docId: string; score: number }[]>;

/** A run evaluate takes: Map-shaped, or in columns (readRunColumns: no object per line, the fast form for big runs). */
export type EvaluableRun = RunLike | RunColumns;

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

/**
 * Doc ids as dense integers for one evaluation, so that the duplicate check and the judgment of a retrieved document
 * are typed-array reads: one Map lookup per retrieved document in all (there were three, plus objects to sort).
 * `seenIn` and `judgedIn` hold the stamp of the query that last retrieved or judged a document; stamps only grow, so
 * a new query needs no clearing, and neither does forgetting every id past MAX_TRACKED_DOCS (bounded memory over a
 * huge collection: ids only have to agree within one query).
 */
const MAX_TRACKED_DOCS = 1 << 20;

class DocTable {
  private readonly ids = new Map<string, number>();
  /** names[id]: the doc id string of an id. */
  readonly names: string[] = [];
  seenIn = new Int32Array(1 << 12);
  judgedIn = new Int32Array(1 << 12);
  grade = new Int32Array(1 << 12);
  stamp = 0;

  nextQuery(): number {
    if (this.ids.size > MAX_TRACKED_DOCS) {
      this.ids.clear();
      this.names.length = 0;
    }
    return ++this.stamp;
  }

  id(docId: string): number {
    let id = this.ids.get(docId);
    if (id === undefined) {
      id = this.ids.size;
      this.ids.set(docId, id);
      this.names.push(docId);
      if (id === this.seenIn.length) {
        this.seenIn = grown(this.seenIn, id * 2);
        this.judgedIn = grown(this.judgedIn, id * 2);
        this.grade = grown(this.grade, id * 2);
      }
    }
    return id;
  }
}

function grown<T extends Int32Array | Float64Array>(array: T, size: number): T {
  if (array.length >= size) return array;
  const bigger = new (array.constructor as new (n: number) => T)(Math.max(size, array.length * 2));
  bigger.set(array);
  return bigger;
}

/**
 * One query's ranking joined with its judgments, as trec_eval's `te_form_res_rels` builds it, and the prefix sums every
 * measure reads (reused from query to query: no allocation per query).
 */
class ResRels {
  /** Grade of each retrieved doc in trec_eval order, or a RELVALUE_* sentinel; the first `numRet` count. */
  rels = new Int32Array(1024);
  numRet = 0;
  /** Judged docs (grade >= 0) per grade. */
  relLevels: number[] = [];
  /** Doc ids of the entries (file order), and their trec_eval order when it differs. */
  docs = new Int32Array(1024);
  scores = new Float64Array(1024);
  order = new Int32Array(1024);
  sims = new Float32Array(1024);
}

/**
 * For a run in columns: the judgments of the current query by the run's own doc ids (RunColumns.docIds), so that a
 * retrieved document's judgment is a typed-array read with no lookup by string; a judged document the run never
 * retrieves needs none (it only counts in relLevels).
 */
class ColumnsTable {
  readonly judgedIn: Int32Array;
  readonly grade: Int32Array;
  stamp = 0;
  constructor(readonly run: RunColumns) {
    this.judgedIn = new Int32Array(run.docIds.length);
    this.grade = new Int32Array(run.docIds.length);
  }
}

/** One query's retrieved documents as ids (file order) into `names`, their scores, and its judgments by id. */
interface QueryView {
  n: number;
  docs: Int32Array;
  scores: Float64Array;
  names: readonly string[];
  judgedIn: Int32Array;
  grade: Int32Array;
  stamp: number;
}

const NO_COLUMNS: QueryColumns = { docs: new Int32Array(0), scores: new Float64Array(0) };

/** trec_eval's comp_sim_docno on float32 scores: score descending, ties by docid descending (strcmp). */
function inTrecOrder(q: QueryView): boolean {
  const { docs, scores, names } = q;
  for (let i = 1; i < q.n; i++) {
    const a = Math.fround(scores[i - 1]!);
    const b = Math.fround(scores[i]!);
    if (a < b || (a === b && strcmp(names[docs[i - 1]!]!, names[docs[i]!]!) < 0)) return false;
  }
  return true;
}

/** The positions of the entries in trec_eval order (score descending as float32, ties by docid descending). */
function trecOrder(q: QueryView, r: ResRels): Int32Array {
  const { n, docs, scores, names } = q;
  if (r.order.length < n) r.order = new Int32Array(n * 2);
  if (r.sims.length < n) r.sims = new Float32Array(n * 2);
  const { order, sims } = r;
  for (let i = 0; i < n; i++) {
    order[i] = i;
    sims[i] = scores[i]!;
  }
  return order.subarray(0, n).sort((a, b) => {
    if (sims[a]! > sims[b]!) return -1;
    if (sims[a]! < sims[b]!) return 1;
    return strcmp(names[docs[b]!]!, names[docs[a]!]!);
  });
}

/** Counts the judged documents (grade >= 0) per grade into r.relLevels. */
function countLevels(grade: number, r: ResRels): void {
  if (grade >= 0) r.relLevels[grade] = (r.relLevels[grade] ?? 0) + 1;
}

/** A Map-shaped run's query: its doc ids through the evaluation's DocTable (the duplicate check on the way). */
function viewEntries(
  qid: string,
  judgments: ReadonlyMap<string, number>,
  entries: readonly { docId: string; score: number }[],
  table: DocTable,
  r: ResRels,
): QueryView {
  const stamp = table.nextQuery();
  r.relLevels.length = 0;
  for (const [docId, grade] of judgments) {
    const id = table.id(docId);
    table.judgedIn[id] = stamp;
    table.grade[id] = grade;
    countLevels(grade, r);
  }
  const total = entries.length;
  if (r.docs.length < total) r.docs = new Int32Array(total * 2);
  if (r.scores.length < total) r.scores = new Float64Array(total * 2);
  const { docs, scores } = r;
  for (let i = 0; i < total; i++) {
    const entry = entries[i]!;
    const id = table.id(entry.docId);
    if (table.seenIn[id] === stamp)
      throw new ValidationError('run', `duplicate document ${entry.docId} for query ${qid}`);
    table.seenIn[id] = stamp;
    docs[i] = id;
    scores[i] = entry.score;
  }
  const { judgedIn, grade, names } = table;
  return { n: total, docs, scores, names, judgedIn, grade, stamp };
}

/** A columnar run's query: ids are the run's own (RunColumns refuses duplicates when it is built). */
function viewColumns(
  judgments: ReadonlyMap<string, number>,
  columns: QueryColumns,
  table: ColumnsTable,
  r: ResRels,
): QueryView {
  const stamp = ++table.stamp;
  const { judgedIn, grade, run } = table;
  r.relLevels.length = 0;
  for (const [docId, g] of judgments) {
    const id = run.idOf(docId);
    if (id >= 0) {
      judgedIn[id] = stamp;
      grade[id] = g;
    }
    countLevels(g, r);
  }
  const { docs, scores } = columns;
  return { n: docs.length, docs, scores, names: run.docIds, judgedIn, grade, stamp };
}

/** trec_eval's `te_form_res_rels`: the grades of one query's ranking in trec_eval order, cut and condensed. */
function formResRels(q: QueryView, options: { maxResults: number; judgedOnly: boolean }, r: ResRels): void {
  const order = inTrecOrder(q) ? undefined : trecOrder(q, r);
  const n = Math.min(q.n, options.maxResults);
  if (r.rels.length < n) r.rels = new Int32Array(n * 2);
  const { rels } = r;
  const { docs, judgedIn, grade, stamp } = q;
  let kept = 0;
  for (let i = 0; i < n; i++) {
    const id = docs[order ? order[i]! : i]!;
    const rel = judgedIn[id] !== stamp ? RELVALUE_NONPOOL : grade[id]! < 0 ? RELVALUE_UNJUDGED : grade[id]!;
    if (options.judgedOnly && rel < 0) continue;
    rels[kept++] = rel;
  }
  r.numRet = kept;
}

/** Judged documents with a grade >= level (trec_eval's num_rel); level 0 counts judged non-relevant ones too. */
function numRelevant(relLevels: readonly number[], level: number): number {
  let count = 0;
  for (let i = Math.max(level, 0); i < relLevels.length; i++) count += relLevels[i] ?? 0;
  return count;
}

/** What the measures of one relevance level read, from one pass over a query's ranking. */
class LevelStats {
  /** relevant[k]: relevant documents in the top k; precision[k]: sum of precision at each of them (AP's numerator). */
  relevant = new Int32Array(1025);
  precision = new Float64Array(1025);
  numRel = 0;
  /** Rank of the first relevant document, 0 for none. */
  firstRel = 0;
  /** bpref's sum (m_bpref.c). */
  bpref = 0;
  constructor(readonly level: number) {}

  /**
   * For each relevant retrieved document: precision at its rank, and for bpref 1 - (judged non-relevant documents
   * above it, at most R) / min(judged non-relevant, R) (1 with none above); unjudged and unpooled ones are skipped.
   */
  scan(r: ResRels): void {
    const { rels, numRet: n } = r;
    const level = this.level;
    this.relevant = grown(this.relevant, n + 1);
    this.precision = grown(this.precision, n + 1);
    const { relevant, precision } = this;
    const numRel = numRelevant(r.relLevels, level);
    let numNonrel = 0;
    for (let j = 0; j < level; j++) numNonrel += r.relLevels[j] ?? 0;
    let relSoFar = 0;
    let nonrelSoFar = 0;
    let sum = 0;
    let bpref = 0;
    let firstRel = 0;
    for (let i = 0; i < n; i++) {
      const rel = rels[i]!;
      if (rel >= level) {
        relSoFar++;
        sum += relSoFar / (i + 1);
        if (firstRel === 0) firstRel = i + 1;
        if (nonrelSoFar > 0) bpref += 1 - Math.min(nonrelSoFar, numRel) / Math.min(numNonrel, numRel);
        else bpref += 1;
      } else if (rel >= 0) nonrelSoFar++;
      relevant[i + 1] = relSoFar;
      precision[i + 1] = sum;
    }
    this.numRel = numRel;
    this.firstRel = firstRel;
    this.bpref = bpref;
  }
}

/** log2(rank + 1) for ranks 1, 2, ...: the DCG discounts, computed once (the same doubles as Math.log2 each time). */
let LOG2 = new Float64Array(0);
function discounts(n: number): Float64Array {
  if (LOG2.length < n) {
    LOG2 = new Float64Array(Math.max(n, LOG2.length * 2, 1024));
    for (let i = 0; i < LOG2.length; i++) LOG2[i] = Math.log2(i + 2);
  }
  return LOG2;
}

/** The level-free prefix sums: DCG of the top k (gain = grade when > 0) and judged documents in the top k. */
class GainStats {
  dcg = new Float64Array(1025);
  judged = new Int32Array(1025);
  /** ideal[k]: DCG of the ideal ranking's top k (every judged grade > 0, highest first); `numIdeal` of them. */
  ideal = new Float64Array(1025);
  numIdeal = 0;

  scan(r: ResRels): void {
    const { rels, numRet: n } = r;
    this.dcg = grown(this.dcg, n + 1);
    this.judged = grown(this.judged, n + 1);
    const { dcg, judged } = this;
    const log2 = discounts(n);
    let sum = 0;
    let count = 0;
    for (let i = 0; i < n; i++) {
      const gain = rels[i]!;
      if (gain > 0) sum += gain / log2[i]!;
      if (gain !== RELVALUE_NONPOOL) count++;
      dcg[i + 1] = sum;
      judged[i + 1] = count;
    }
    // trec_eval walks rel_levels downwards
    const levels = r.relLevels;
    let numIdeal = 0;
    for (let grade = levels.length - 1; grade > 0; grade--) numIdeal += levels[grade] ?? 0;
    this.ideal = grown(this.ideal, numIdeal + 1);
    const ideal = this.ideal;
    const idealLog2 = discounts(numIdeal);
    let i = 0;
    sum = 0;
    for (let grade = levels.length - 1; grade > 0; grade--) {
      for (let k = levels[grade] ?? 0; k > 0; k--, i++) {
        sum += grade / idealLog2[i]!;
        ideal[i + 1] = sum;
      }
    }
    this.numIdeal = numIdeal;
  }
}

/** A measure's value from the query's prefix sums (trec_eval's m_*.c; `n` = retrieved documents). */
function measureValue(m: Measure, s: LevelStats, g: GainStats, n: number): number {
  const k = m.cutoff ?? 0;
  const top = Math.min(k, n);
  switch (m.family) {
    case 'num_q':
      return 1;
    case 'num_ret':
      return n;
    case 'num_rel':
      return s.numRel;
    case 'num_rel_ret':
      return s.relevant[n]!;
    case 'map':
      return s.numRel === 0 ? 0 : s.precision[n]! / s.numRel;
    case 'map_cut':
      return s.numRel === 0 ? 0 : s.precision[top]! / s.numRel;
    case 'recip_rank':
      return s.firstRel > 0 ? 1 / s.firstRel : 0;
    case 'recip_rank_cut':
      return s.firstRel > 0 && s.firstRel <= k ? 1 / s.firstRel : 0;
    case 'P':
      // m_P.c: the denominator is the cutoff even when fewer docs were retrieved
      return s.relevant[top]! / k;
    case 'recall':
      return s.numRel === 0 ? 0 : s.relevant[top]! / s.numRel;
    case 'success':
      return s.relevant[top]! > 0 ? 1 : 0;
    case 'Rprec': {
      const depth = Math.min(n, s.numRel);
      return depth === 0 ? 0 : s.relevant[depth]! / s.numRel;
    }
    case 'bpref':
      return s.numRel > 0 ? s.bpref / s.numRel : s.bpref;
    case 'judged':
      // ir_measures Judged@k: the share of the top min(k, retrieved) that has a judgment (any grade, even negative)
      return top === 0 ? 0 : g.judged[top]! / top;
    case 'ndcg_cut': {
      const ideal = g.ideal[Math.min(k, g.numIdeal)]!;
      const actual = g.dcg[top]!;
      return ideal > 0 ? actual / ideal : actual;
    }
    case 'ndcg': {
      const ideal = g.ideal[g.numIdeal]!;
      return ideal > 0 ? g.dcg[n]! / ideal : 0;
    }
  }
}

/** The measures of one evaluation, each with the stats of its relevance level, and the passes a query needs. */
interface Plan {
  measures: Measure[];
  /** levelOf[i]: index into `levels` of measures[i]'s stats. */
  levelOf: number[];
  levels: LevelStats[];
  gains: GainStats;
  needsGains: boolean;
}

function makePlan(measures: Measure[], globalLevel: number): Plan {
  const levels: LevelStats[] = [];
  const levelOf = measures.map((m) => {
    // trec_eval counts as relevant any grade >= level; a level of 0 still never counts unjudged documents (< 0)
    const level = Math.max(m.rel ?? globalLevel, 0);
    let index = levels.findIndex((s) => s.level === level);
    if (index < 0) index = levels.push(new LevelStats(level)) - 1;
    return index;
  });
  const needsGains = measures.some((m) => m.family === 'ndcg' || m.family === 'ndcg_cut' || m.family === 'judged');
  return { measures, levelOf, levels, gains: new GainStats(), needsGains };
}

/** One query's values (and their addition to `sums`), every measure from one pass per relevance level. */
function measureQuery(plan: Plan, r: ResRels, sums: Record<string, number>): Record<string, number> {
  for (const stats of plan.levels) stats.scan(r);
  if (plan.needsGains) plan.gains.scan(r);
  const values: Record<string, number> = {};
  const { measures, levelOf, levels, gains } = plan;
  for (let i = 0; i < measures.length; i++) {
    const m = measures[i]!;
    const value = measureValue(m, levels[levelOf[i]!]!, gains, r.numRet);
    values[m.name] = value;
    sums[m.name]! += value;
  }
  return values;
}

/** The view of a query of either run form; undefined when the run has no results for it, unless `empty` is asked. */
function queryViews(
  run: EvaluableRun,
  r: ResRels,
): (qid: string, judgments: ReadonlyMap<string, number>, empty?: boolean) => QueryView | undefined {
  if (isColumns(run)) {
    const table = new ColumnsTable(run);
    return (qid, judgments, empty) => {
      const columns = run.queries.get(qid) ?? (empty ? NO_COLUMNS : undefined);
      return columns && viewColumns(judgments, columns, table, r);
    };
  }
  const table = new DocTable();
  return (qid, judgments, empty) => {
    const entries = run.get(qid) ?? (empty ? [] : undefined);
    return entries && viewEntries(qid, judgments, entries, table, r);
  };
}

function isColumns(run: EvaluableRun): run is RunColumns {
  return (run as Partial<RunColumns>).format === 'columns';
}

/**
 * Evaluates a run against judgments with trec_eval 9 semantics (see the package README for every rule):
 * queries are those of the qrels that have results (all qrels queries with `allQueries`, missing ones scoring 0);
 * results are re-sorted by float32 score descending, ties by docid in descending strcmp order; binary measures use
 * grade >= level; nDCG uses the raw grades; queries without relevant documents are kept and score 0.
 */
export function evaluate(qrels: Qrels, run: EvaluableRun, options: EvaluateOptions = {}): EvalResult {
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
  const plan = makePlan(measures, level);
  const r = new ResRels();
  const formOptions = { maxResults, judgedOnly: options.judgedOnly === true };
  const viewOf = queryViews(run, r);
  for (const qid of qids) {
    const view = viewOf(qid, qrels.get(qid)!);
    if (view === undefined) {
      if (!options.allQueries && !chosen) continue; // no results: ignored unless -c
      missing.add(qid);
    }
    formResRels(view ?? viewOf(qid, qrels.get(qid)!, true)!, formOptions, r);
    perQuery.set(qid, measureQuery(plan, r, sums));
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
