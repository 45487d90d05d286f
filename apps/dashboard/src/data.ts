// Pure data functions behind the views: no DOM, no fetch, linear or n·log n in the number of queries.
import type { MetricsReport, RecallCurve, Significance, SystemReport } from './types.js';

/** Ties are deltas whose magnitude is below this (trec_eval prints 4 decimals; float noise is far smaller). */
export const TIE_EPSILON = 1e-9;

export interface QueryDelta {
  qid: string;
  baseline: number;
  system: number;
  delta: number;
}

export interface WinTieLoss {
  wins: number;
  ties: number;
  losses: number;
}

/**
 * Per-query differences `system − baseline` on one measure, sorted from the largest gain to the largest loss
 * (ties broken by qid so the order is stable). Queries missing in either system are left out.
 */
export function perQueryDeltas(system: SystemReport, baseline: SystemReport, measure: string): QueryDelta[] {
  const out: QueryDelta[] = [];
  for (const [qid, values] of Object.entries(system.perQuery)) {
    const s = values[measure];
    const b = baseline.perQuery[qid]?.[measure];
    if (typeof s !== 'number' || typeof b !== 'number' || !Number.isFinite(s) || !Number.isFinite(b)) continue;
    out.push({ qid, baseline: b, system: s, delta: s - b });
  }
  out.sort((x, y) => y.delta - x.delta || compareIds(x.qid, y.qid));
  return out;
}

/** Natural order for ids: numeric ids by value ("2" before "10"), others lexicographically. */
export function compareIds(a: string, b: string): number {
  const na = Number(a);
  const nb = Number(b);
  if (a !== '' && b !== '' && Number.isFinite(na) && Number.isFinite(nb))
    return na - nb || (a < b ? -1 : a > b ? 1 : 0);
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Counts queries the system wins, ties and loses against the baseline. */
export function winTieLoss(deltas: readonly QueryDelta[], epsilon = TIE_EPSILON): WinTieLoss {
  let wins = 0;
  let ties = 0;
  let losses = 0;
  for (const d of deltas) {
    if (d.delta > epsilon) wins++;
    else if (d.delta < -epsilon) losses++;
    else ties++;
  }
  return { wins, ties, losses };
}

export interface RecallPoint {
  depth: number;
  recall: number;
}

/** The recall-at-depth curve as points sorted by depth; pairs with a non-finite value are dropped. */
export function recallPoints(curve: RecallCurve): RecallPoint[] {
  const n = Math.min(curve.depths.length, curve.recall.length);
  const points: RecallPoint[] = [];
  for (let i = 0; i < n; i++) {
    const depth = curve.depths[i]!;
    const recall = curve.recall[i]!;
    if (Number.isFinite(depth) && Number.isFinite(recall)) points.push({ depth, recall });
  }
  points.sort((a, b) => a.depth - b.depth);
  return points;
}

/**
 * The smallest measured depth at which recall reaches `fraction` of the deepest measured recall
 * ("how deep must the first stage go"), or null for an empty curve.
 */
export function depthForRecallFraction(
  points: readonly RecallPoint[],
  fraction: number,
): { depth: number; recall: number } | null {
  if (points.length === 0) return null;
  const max = points.reduce((m, p) => Math.max(m, p.recall), 0);
  const target = max * fraction;
  for (const p of points) if (p.recall >= target - TIE_EPSILON) return { depth: p.depth, recall: p.recall };
  return null;
}

export type Movement = { kind: 'up'; by: number } | { kind: 'down'; by: number } | { kind: 'same' } | { kind: 'new' };

export interface MovedItem {
  id: string;
  rank: number;
  baselineRank: number | null;
  movement: Movement;
}

/**
 * Where each document of a reranked list stood in the baseline list: ↑n when it moved up n places, ↓n when it
 * moved down, `new` when the baseline did not retrieve it. Ranks are 1-based positions in the given arrays.
 */
export function rankMovements(baselineIds: readonly string[], rerankedIds: readonly string[]): MovedItem[] {
  const baselineRank = new Map<string, number>();
  baselineIds.forEach((id, i) => {
    if (!baselineRank.has(id)) baselineRank.set(id, i + 1);
  });
  return rerankedIds.map((id, i) => {
    const rank = i + 1;
    const before = baselineRank.get(id);
    if (before === undefined) return { id, rank, baselineRank: null, movement: { kind: 'new' } };
    const by = before - rank;
    const movement: Movement = by > 0 ? { kind: 'up', by } : by < 0 ? { kind: 'down', by: -by } : { kind: 'same' };
    return { id, rank, baselineRank: before, movement };
  });
}

/** The arrow text for a movement: "↑3", "↓2", "new", "=". */
export function movementLabel(movement: Movement): string {
  switch (movement.kind) {
    case 'up':
      return `↑${movement.by}`;
    case 'down':
      return `↓${movement.by}`;
    case 'new':
      return 'new';
    case 'same':
      return '=';
  }
}

/** The p-value the markers use: the paired randomization test (as `dotrank eval` marks its table), else the t-test. */
export function markerPValue(sig: Significance | undefined): number | null {
  const p = sig?.pValueRandomization ?? sig?.pValueTTest;
  return p === null || p === undefined || !Number.isFinite(p) ? null : p;
}

/** † when the difference to the baseline is significant at p < 0.05 (see markerPValue); empty otherwise. */
export function significanceMarker(sig: Significance | undefined, alpha = 0.05): string {
  const p = markerPValue(sig);
  return p !== null && p < alpha ? '†' : '';
}

/** The tooltip that explains a marker: both p-values, the delta and the win/tie/loss counts. */
export function significanceTitle(sig: Significance | undefined, baseline: string): string {
  if (!sig) return `no significance test against ${baseline}`;
  return [
    `vs ${baseline}: Δ ${formatSigned(sig.delta)}`,
    `randomization p = ${formatP(sig.pValueRandomization)}`,
    `paired t-test p = ${formatP(sig.pValueTTest)}`,
    `wins/ties/losses ${sig.wins}/${sig.ties}/${sig.losses}`,
  ].join('; ');
}

export function formatNumber(value: number | null | undefined, digits = 4): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  return value.toFixed(digits);
}

export function formatSigned(value: number | null | undefined, digits = 4): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  return `${value > 0 ? '+' : value < 0 ? '−' : '±'}${Math.abs(value).toFixed(digits)}`;
}

export function formatP(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return 'n/a';
  return value < 0.0001 ? '< 0.0001' : value.toFixed(4);
}

export function formatPercent(value: number | null | undefined, digits = 1): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  return `${(value * 100).toFixed(digits)} %`;
}

/** Human labels for trec_eval measure names: ndcg_cut.10 → nDCG@10, recip_rank → MRR, P.10 → P@10. */
export function measureLabel(key: string): string {
  if (key.endsWith('_J')) return `${measureLabel(key.slice(0, -2))} -J`;
  const m = /^([A-Za-z_]+?)(?:_cut)?(?:[._@](\d+))?$/.exec(key);
  if (!m) return key;
  const base = m[1]!;
  const cut = m[2];
  const names: Record<string, string> = {
    ndcg: 'nDCG',
    recip_rank: 'MRR',
    recall: 'Recall',
    map: 'MAP',
    P: 'P',
    success: 'Success',
    Rprec: 'R-Prec',
    bpref: 'bpref',
  };
  const name = names[base] ?? base;
  return cut ? `${name}@${cut}` : name;
}

/** trec_eval count measures (num_q, num_ret, num_rel, num_rel_ret): sums, not per-query effectiveness. */
export function isCountMeasure(key: string): boolean {
  return key.startsWith('num_');
}

/**
 * Judged@k and the condensed (trec_eval -J) measures `dotrank eval` adds (`ndcg_cut_10_J`, `map_J`): they say how
 * complete the judgments are, so the table shows them after the usual measures, as a group of their own.
 */
export function isJudgedMeasure(key: string): boolean {
  return /^Judged@\d+$/.test(key) || key.endsWith('_J');
}

/**
 * Effectiveness measures in the order the table shows them: MRR, nDCG, Recall (by depth), MAP, then the rest as
 * listed, then Judged@k and the condensed (-J) ones. Count measures are left out.
 */
export function orderMeasures(measures: readonly string[]): string[] {
  const rank = (key: string): number => {
    if (isJudgedMeasure(key)) return 5;
    if (key.startsWith('recip_rank')) return 0;
    if (key.startsWith('ndcg')) return 1;
    if (key.startsWith('recall')) return 2;
    if (key === 'map' || key.startsWith('map_cut')) return 3;
    return 4;
  };
  const depth = (key: string): number => Number(/(\d+)$/.exec(key)?.[1] ?? 0);
  return measures
    .filter((key) => !isCountMeasure(key))
    .map((key, i) => ({ key, i }))
    .sort((a, b) => rank(a.key) - rank(b.key) || (rank(a.key) === 2 ? depth(a.key) - depth(b.key) : a.i - b.i))
    .map((x) => x.key);
}

/** The measure the per-query chart uses by default: nDCG@10 when present, else the first nDCG, else the first. */
export function defaultDeltaMeasure(measures: readonly string[]): string | undefined {
  return measures.find((m) => /^ndcg_cut[._@]10$/.test(m)) ?? measures.find((m) => m.startsWith('ndcg')) ?? measures[0];
}

/** The system compared with the baseline by default: "tasb" when present, else the first non-baseline system. */
export function defaultComparedSystem(report: MetricsReport): string | undefined {
  const others = Object.keys(report.systems).filter((s) => s !== report.baseline);
  return others.find((s) => s === 'tasb') ?? others.find((s) => s.includes('tasb')) ?? others[0];
}

/** Page `page` (0-based) of `size` items, clamped to the available pages. */
export function paginate<T>(
  items: readonly T[],
  page: number,
  size: number,
): { items: T[]; page: number; pages: number } {
  const pages = Math.max(1, Math.ceil(items.length / size));
  const p = Math.min(Math.max(0, Math.floor(page)), pages - 1);
  return { items: items.slice(p * size, p * size + size), page: p, pages };
}

/** Appends a sample to a bounded time series, dropping the oldest beyond `max`. */
export function pushBounded<T>(series: readonly T[], sample: T, max: number): T[] {
  const next = series.length >= max ? series.slice(series.length - max + 1) : series.slice();
  next.push(sample);
  return next;
}
