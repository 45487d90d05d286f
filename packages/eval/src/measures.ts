import { ValidationError } from '@dotrank/core';

/** The measure families we compute (trec_eval names, plus `recip_rank_cut`, our RR@k). */
export type MeasureFamily =
  | 'map'
  | 'recip_rank'
  | 'recip_rank_cut'
  | 'ndcg'
  | 'ndcg_cut'
  | 'P'
  | 'recall'
  | 'Rprec'
  | 'num_q'
  | 'num_ret'
  | 'num_rel'
  | 'num_rel_ret';

/** One parsed measure; `name` is how trec_eval prints it (`ndcg_cut_10`, `P_10`, `map`). */
export interface Measure {
  name: string;
  family: MeasureFamily;
  cutoff?: number;
}

/** trec_eval's default cutoffs for `P`, `recall` and `ndcg_cut` given without parameters. */
export const DEFAULT_CUTOFFS = [5, 10, 15, 20, 30, 100, 200, 500, 1000] as const;

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

const CUT_FAMILIES = new Set<MeasureFamily>(['recip_rank_cut', 'ndcg_cut', 'P', 'recall']);
const PLAIN_FAMILIES = new Set<MeasureFamily>([
  'map',
  'recip_rank',
  'ndcg',
  'Rprec',
  'num_q',
  'num_ret',
  'num_rel',
  'num_rel_ret',
]);

/** Count measures: summed, not averaged, over queries, and printed as integers. */
export const COUNT_FAMILIES = new Set<MeasureFamily>(['num_q', 'num_ret', 'num_rel', 'num_rel_ret']);

// Our aliases (case-insensitive): `<alias>@k` is a cut measure, the bare alias a plain one.
const ALIASES: Record<string, MeasureFamily> = {
  mrr: 'recip_rank_cut',
  rr: 'recip_rank_cut',
  ndcg: 'ndcg_cut',
  recall: 'recall',
  r: 'recall',
  p: 'P',
};
const PLAIN_ALIASES: Record<string, MeasureFamily> = {
  map: 'map',
  mrr: 'recip_rank',
  rr: 'recip_rank',
  ndcg: 'ndcg',
  rprec: 'Rprec',
};

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

/** Parses one measure token (`ndcg_cut.5`, `P_10`, `nDCG@10`, `map`, `recall`); cut lists come in via `extra`. */
function parseToken(token: string): Measure[] {
  // trec_eval form: family.params (params are the first cutoff; more follow as separate comma tokens)
  const dot = token.indexOf('.');
  if (dot > 0) {
    const family = token.slice(0, dot);
    if (!isFamily(family) || !CUT_FAMILIES.has(family))
      throw new ValidationError('measures', `unknown measure "${token}"`);
    return [cutMeasure(family, parseCutoff(token.slice(dot + 1), token))];
  }
  // alias form: nDCG@10, MRR@10, Recall@1000, P@10, RR@10
  const at = token.indexOf('@');
  if (at > 0) {
    const family = ALIASES[token.slice(0, at).toLowerCase()];
    if (!family) throw new ValidationError('measures', `unknown measure "${token}"`);
    return [cutMeasure(family, parseCutoff(token.slice(at + 1), token))];
  }
  if (isFamily(token)) {
    if (CUT_FAMILIES.has(token)) {
      if (token === 'recip_rank_cut') return [cutMeasure(token, 10)];
      return DEFAULT_CUTOFFS.map((k) => cutMeasure(token, k));
    }
    return [{ name: token, family: token }];
  }
  // printed trec_eval names: ndcg_cut_10, P_10, recall_1000, recip_rank_cut_10
  const printed = /^(ndcg_cut|P|recall|recip_rank_cut)_(\d+)$/.exec(token);
  if (printed) return [cutMeasure(printed[1] as MeasureFamily, parseCutoff(printed[2]!, token))];
  const plain = PLAIN_ALIASES[token.toLowerCase()];
  if (plain) return [{ name: plain, family: plain }];
  throw new ValidationError('measures', `unknown measure "${token}"`);
}

/**
 * Parses a measure list: comma/space separated trec_eval names (`map`, `recip_rank`, `ndcg`, `Rprec`, `num_q`,
 * `num_ret`, `num_rel`, `num_rel_ret`, `ndcg_cut.5,10,20`, `P.10`, `recall.100,1000`, bare `P`/`recall`/`ndcg_cut`
 * for trec_eval's default cutoffs), printed names (`ndcg_cut_10`, `P_10`) and our aliases (`MRR@10`, `RR@10`,
 * `nDCG@10`, `Recall@1000`, `R@100`, `P@10`, `MAP`, `MRR` = `recip_rank`). A bare number continues the cutoff
 * list of the measure before it. Returns the measures without duplicates, in order of first mention.
 */
export function parseMeasureList(spec: string | readonly string[]): Measure[] {
  const tokens = (typeof spec === 'string' ? [spec] : spec).flatMap((s) => s.split(/[\s,;]+/)).filter((t) => t !== '');
  if (tokens.length === 0) throw new ValidationError('measures', 'no measure given');
  const out: Measure[] = [];
  const seen = new Set<string>();
  let last: Measure | undefined;
  for (const token of tokens) {
    let measures: Measure[];
    if (/^\d+$/.test(token)) {
      if (!last || last.cutoff === undefined)
        throw new ValidationError('measures', `cutoff "${token}" does not follow a measure with cutoffs`);
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

/** Parses a measure spec into the canonical (trec_eval printed) names, e.g. `"nDCG@10,map"` -> `["ndcg_cut_10", "map"]`. */
export function parseMeasures(spec: string | readonly string[]): string[] {
  return parseMeasureList(spec).map((m) => m.name);
}

/** A short human label for a canonical name: `ndcg_cut_10` -> `nDCG@10`, `recip_rank_cut_10` -> `MRR@10`. */
export function measureLabel(name: string): string {
  const cut = /^(ndcg_cut|P|recall|recip_rank_cut)_(\d+)$/.exec(name);
  if (cut) {
    const label = { ndcg_cut: 'nDCG', P: 'P', recall: 'Recall', recip_rank_cut: 'MRR' }[
      cut[1] as 'ndcg_cut' | 'P' | 'recall' | 'recip_rank_cut'
    ];
    return `${label}@${cut[2]}`;
  }
  return { map: 'MAP', recip_rank: 'MRR', ndcg: 'nDCG', Rprec: 'R-prec' }[name] ?? name;
}

/** True for the count measures (`num_q`, `num_ret`, `num_rel`, `num_rel_ret`), which are summed and printed as integers. */
export function isCountMeasure(name: string): boolean {
  return COUNT_FAMILIES.has(name as MeasureFamily);
}
