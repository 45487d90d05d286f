import { ValidationError } from '@dotrank/core';

/**
 * The measure families we compute: trec_eval's names, plus `recip_rank_cut` (our RR@k, reciprocal rank of the top
 * k) and `judged` (ir_measures' Judged@k, which trec_eval lacks).
 */
export type MeasureFamily =
  | 'map'
  | 'map_cut'
  | 'recip_rank'
  | 'recip_rank_cut'
  | 'ndcg'
  | 'ndcg_cut'
  | 'P'
  | 'recall'
  | 'success'
  | 'Rprec'
  | 'bpref'
  | 'judged'
  | 'num_q'
  | 'num_ret'
  | 'num_rel'
  | 'num_rel_ret';

/**
 * One parsed measure. `name` is how it is printed and keyed in results, in the user's naming: trec_eval's printed
 * name (`ndcg_cut_10`, `P_10`, `map`) for a trec_eval spelling, the ir_measures name (`nDCG@10`, `AP(rel=2)@100`)
 * for an ir_measures spelling. Parsing `name` again gives the same measure.
 */
export interface Measure {
  name: string;
  family: MeasureFamily;
  cutoff?: number;
  /** Minimum grade counted relevant for this measure (ir_measures `rel=`); the evaluation's level when absent. */
  rel?: number;
}

/** trec_eval's default cutoffs for `P`, `recall`, `ndcg_cut` and `map_cut` given without parameters. */
export const DEFAULT_CUTOFFS = [5, 10, 15, 20, 30, 100, 200, 500, 1000] as const;
/** trec_eval's default cutoffs for `success`. */
export const DEFAULT_SUCCESS_CUTOFFS = [1, 5, 10] as const;

/** Measures computed when none are asked for. */
export const DEFAULT_MEASURES = [
  'map',
  'recip_rank',
  'recip_rank_cut_10',
  'ndcg_cut_10',
  'P_10',
  'recall_100',
  'recall_1000',
  'Rprec',
  'num_q',
  'num_ret',
  'num_rel',
  'num_rel_ret',
] as const;

const CUT_FAMILIES = new Set<MeasureFamily>(['map_cut', 'recip_rank_cut', 'ndcg_cut', 'P', 'recall', 'success']);
const PLAIN_FAMILIES = new Set<MeasureFamily>([
  'map',
  'recip_rank',
  'ndcg',
  'Rprec',
  'bpref',
  'num_q',
  'num_ret',
  'num_rel',
  'num_rel_ret',
]);

/** Count measures: summed, not averaged, over queries, and printed as integers. */
export const COUNT_FAMILIES = new Set<MeasureFamily>(['num_q', 'num_ret', 'num_rel', 'num_rel_ret']);

/** Families whose value does not depend on a relevance level (no `rel=` parameter). */
const LEVEL_FREE = new Set<MeasureFamily>(['ndcg', 'ndcg_cut', 'judged', 'num_q', 'num_ret']);

/**
 * ir_measures names (matched case-insensitively) and our older aliases: the printed spelling, the family without a
 * cutoff and the family with one (`undefined`: that form does not exist).
 */
interface IrName {
  printed: string;
  plain?: MeasureFamily;
  cut?: MeasureFamily;
}
const IR_NAMES: Record<string, IrName> = {
  ap: { printed: 'AP', plain: 'map', cut: 'map_cut' },
  map: { printed: 'MAP', plain: 'map', cut: 'map_cut' },
  ndcg: { printed: 'nDCG', plain: 'ndcg', cut: 'ndcg_cut' },
  rr: { printed: 'RR', plain: 'recip_rank', cut: 'recip_rank_cut' },
  mrr: { printed: 'MRR', plain: 'recip_rank', cut: 'recip_rank_cut' },
  r: { printed: 'R', cut: 'recall' },
  recall: { printed: 'Recall', cut: 'recall' },
  p: { printed: 'P', cut: 'P' },
  success: { printed: 'Success', cut: 'success' },
  judged: { printed: 'Judged', cut: 'judged' },
  bpref: { printed: 'Bpref', plain: 'bpref' },
  rprec: { printed: 'Rprec', plain: 'Rprec' },
  numq: { printed: 'NumQ', plain: 'num_q' },
  numret: { printed: 'NumRet', plain: 'num_ret' },
  numrel: { printed: 'NumRel', plain: 'num_rel' },
  numrelret: { printed: 'NumRelRet', plain: 'num_rel_ret' },
};

/** The forms a measure may take, for the error message of an unknown one. */
export const MEASURE_FORMS =
  'trec_eval names: map, map_cut.k, recip_rank, ndcg, ndcg_cut.k, P.k, recall.k, success.k, Rprec, bpref, num_q, ' +
  'num_ret, num_rel, num_rel_ret (several cutoffs: P.5,10; printed forms such as P_10 and ndcg_cut_10 too); ' +
  'ir_measures names: AP, AP@k, nDCG, nDCG@k, RR, RR@k, R@k, P@k, Success@k, Judged@k, Bpref, Rprec, NumQ, ' +
  'NumRet, NumRel, NumRelRet, with (rel=N) for a relevance level, e.g. AP(rel=2)@1000; aliases MAP, MRR, MRR@k, ' +
  'Recall@k';

function unknown(token: string, why?: string): ValidationError {
  return new ValidationError('measures', `${why ?? `unknown measure "${token}"`}; valid forms: ${MEASURE_FORMS}`);
}

function cutMeasure(family: MeasureFamily, cutoff: number): Measure {
  return { name: `${family}_${cutoff}`, family, cutoff };
}

function parseCutoff(text: string, token: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) {
    throw new ValidationError('measures', `cutoff "${text}" in "${token}" must be a positive integer`);
  }
  return Number(text);
}

function isFamily(text: string): text is MeasureFamily {
  return CUT_FAMILIES.has(text as MeasureFamily) || PLAIN_FAMILIES.has(text as MeasureFamily);
}

function defaultCutoffs(family: MeasureFamily): readonly number[] {
  if (family === 'recip_rank_cut') return [10];
  if (family === 'success') return DEFAULT_SUCCESS_CUTOFFS;
  return DEFAULT_CUTOFFS;
}

/** The ir_measures form: `Name`, `Name@k`, `Name(rel=N)`, `Name(rel=N)@k` or `Name@k(rel=N)`. */
const IR_FORM = /^([A-Za-z]+)(?:\(([^)]*)\))?(?:@(\d+))?(?:\(([^)]*)\))?$/;

function parseIrName(token: string): Measure | undefined {
  const match = IR_FORM.exec(token);
  if (!match) return undefined;
  const [, base, paramsBefore, cutText, paramsAfter] = match;
  const ir = IR_NAMES[base!.toLowerCase()];
  if (!ir) return undefined;
  if (paramsBefore !== undefined && paramsAfter !== undefined)
    throw unknown(token, `"${token}" gives parameters twice`);
  const params = paramsBefore ?? paramsAfter;
  const family = cutText !== undefined ? ir.cut : ir.plain;
  if (!family) {
    throw unknown(
      token,
      cutText !== undefined
        ? `"${ir.printed}" takes no cutoff (in "${token}")`
        : `"${ir.printed}" needs a cutoff, e.g. ${ir.printed}@10`,
    );
  }
  const measure: Measure = { name: '', family };
  if (cutText !== undefined) measure.cutoff = parseCutoff(cutText, token);
  if (params !== undefined) {
    const rel = /^\s*rel\s*=\s*(-?\d+)\s*$/.exec(params);
    if (!rel) throw unknown(token, `unknown parameter "${params}" in "${token}" (only rel=N is supported)`);
    if (LEVEL_FREE.has(family))
      throw unknown(token, `"${ir.printed}" takes no rel parameter (in "${token}"): it does not use a relevance level`);
    measure.rel = Number(rel[1]);
    if (measure.rel < 0) throw new ValidationError('measures', `rel in "${token}" must be >= 0`);
  }
  measure.name = `${ir.printed}${measure.rel !== undefined ? `(rel=${measure.rel})` : ''}${measure.cutoff !== undefined ? `@${measure.cutoff}` : ''}`;
  return measure;
}

/** Parses one measure token (`ndcg_cut.5`, `P_10`, `nDCG@10`, `AP(rel=2)`, `map`, `recall`); cut lists come in via `extra`. */
function parseToken(token: string): Measure[] {
  // trec_eval form: family.params (the first cutoff; more follow as separate comma tokens)
  const dot = token.indexOf('.');
  if (dot > 0) {
    const family = token.slice(0, dot);
    if (!isFamily(family) || !CUT_FAMILIES.has(family)) throw unknown(token);
    return [cutMeasure(family, parseCutoff(token.slice(dot + 1), token))];
  }
  if (isFamily(token)) {
    if (CUT_FAMILIES.has(token)) return defaultCutoffs(token).map((k) => cutMeasure(token, k));
    return [{ name: token, family: token }];
  }
  // printed trec_eval names: ndcg_cut_10, P_10, recall_1000, recip_rank_cut_10, map_cut_100, success_1
  const printed = /^(ndcg_cut|P|recall|recip_rank_cut|map_cut|success)_(\d+)$/.exec(token);
  if (printed) return [cutMeasure(printed[1] as MeasureFamily, parseCutoff(printed[2]!, token))];
  const ir = parseIrName(token);
  if (ir) return [ir];
  throw unknown(token);
}

/** Splits a list on commas, semicolons and spaces, but not inside parentheses (`AP(rel=2)@100`). */
function tokenize(spec: string): string[] {
  const tokens: string[] = [];
  let depth = 0;
  let current = '';
  for (const c of spec) {
    if (c === '(') depth++;
    if (c === ')') depth = Math.max(0, depth - 1);
    if (depth === 0 && /[\s,;]/.test(c)) {
      if (current !== '') tokens.push(current);
      current = '';
    } else current += c;
  }
  if (current !== '') tokens.push(current);
  return tokens;
}

/**
 * Parses a measure list: comma/space separated trec_eval names (`map`, `recip_rank`, `ndcg`, `Rprec`, `bpref`,
 * `num_q`, `num_ret`, `num_rel`, `num_rel_ret`, `ndcg_cut.5,10,20`, `P.10`, `recall.100,1000`, `map_cut.100`,
 * `success.1,5`, bare `P`/`recall`/`ndcg_cut`/`map_cut`/`success` for trec_eval's default cutoffs), printed names
 * (`ndcg_cut_10`, `P_10`) and ir_measures names (`nDCG@10`, `AP`, `AP@100`, `RR@10`, `R@1000`, `P@10`,
 * `Judged@10`, `Success@10`, `Bpref`, with `(rel=2)`), plus the aliases `MAP`, `MRR`, `MRR@10`, `Recall@1000`.
 * A bare number continues the cutoff list of the trec_eval measure before it. Returns the measures without
 * duplicates, in order of first mention. An unknown name is a ValidationError listing the valid forms.
 */
export function parseMeasureList(spec: string | readonly string[]): Measure[] {
  const tokens = (typeof spec === 'string' ? [spec] : spec).flatMap(tokenize);
  if (tokens.length === 0) throw new ValidationError('measures', 'no measure given');
  const out: Measure[] = [];
  const seen = new Set<string>();
  let last: Measure | undefined;
  for (const token of tokens) {
    let measures: Measure[];
    if (/^\d+$/.test(token)) {
      if (!last || last.cutoff === undefined || last.name !== `${last.family}_${last.cutoff}`)
        throw new ValidationError('measures', `cutoff "${token}" does not follow a trec_eval measure with cutoffs`);
      measures = [cutMeasure(last.family, parseCutoff(token, token))];
    } else {
      measures = parseToken(token);
    }
    for (const m of measures) {
      if (!seen.has(m.name)) {
        seen.add(m.name);
        out.push(m);
      }
    }
    last = measures[measures.length - 1];
  }
  return out;
}

/** Parses a measure spec into the names results are keyed by, e.g. `"nDCG@10,map,P.5,10"` -> `["nDCG@10", "map", "P_5", "P_10"]`. */
export function parseMeasures(spec: string | readonly string[]): string[] {
  return parseMeasureList(spec).map((m) => m.name);
}

/** A short human label for a measure name: `ndcg_cut_10` -> `nDCG@10`, `recip_rank_cut_10` -> `MRR@10`; ir_measures names stay. */
export function measureLabel(name: string): string {
  const cut = /^(ndcg_cut|P|recall|recip_rank_cut|map_cut|success)_(\d+)$/.exec(name);
  if (cut) {
    const label = {
      ndcg_cut: 'nDCG',
      P: 'P',
      recall: 'Recall',
      recip_rank_cut: 'MRR',
      map_cut: 'AP',
      success: 'Success',
    }[cut[1] as 'ndcg_cut' | 'P' | 'recall' | 'recip_rank_cut' | 'map_cut' | 'success'];
    return `${label}@${cut[2]}`;
  }
  return { map: 'MAP', recip_rank: 'MRR', ndcg: 'nDCG', Rprec: 'R-prec', bpref: 'Bpref' }[name] ?? name;
}

/** True for the count measures (`num_q`, `num_ret`, `num_rel`, `num_rel_ret` and their ir_measures names), summed and printed as integers. */
export function isCountMeasure(name: string): boolean {
  if (COUNT_FAMILIES.has(name as MeasureFamily)) return true;
  return /^Num(Q|Ret|Rel|RelRet)(\(rel=\d+\))?$/.test(name);
}
