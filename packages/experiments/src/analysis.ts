// From logged impressions and events to the report: per-impression credit, wins/ties/losses, Δ, sign test,
// bootstrap interval, sample size; for shadow impressions, how much the two rankings differ.
import { jaccardAt, kendallTauUnion, rankBiasedOverlap } from './overlap.js';
import { bootstrapDeltaInterval, impressionsForPower, signTestPValue } from './stats.js';
import type { Outcome } from './stats.js';
import type { ExperimentEvent, ExperimentMode, Impression, SystemName } from './types.js';

/** Clicked results per system in one impression. */
export interface Credit {
  bm25: number;
  tasb: number;
}

/**
 * Team-draft credit: each distinct clicked document counts once for the system that placed it (a second click on
 * the same result, or a click on a document that was not shown, adds nothing). Only `click` events give credit.
 */
export function creditOf(impression: Impression, events: readonly ExperimentEvent[]): Credit {
  const systemOf = new Map<string, SystemName>(impression.shown.map((r) => [r.docId, r.system]));
  const credit: Credit = { bm25: 0, tasb: 0 };
  const counted = new Set<string>();
  for (const event of events) {
    if (event.type !== 'click' || counted.has(event.docId)) continue;
    const system = systemOf.get(event.docId);
    if (!system) continue;
    counted.add(event.docId);
    credit[system]++;
  }
  return credit;
}

/** TAS-B's result in one impression: undefined when nothing shown was clicked. */
export function outcomeOf(credit: Credit): 'win' | 'tie' | 'loss' | undefined {
  if (credit.bm25 === 0 && credit.tasb === 0) return undefined;
  return credit.tasb > credit.bm25 ? 'win' : credit.tasb < credit.bm25 ? 'loss' : 'tie';
}

export interface QueryBreakdown {
  query: string;
  impressions: number;
  impressionsWithClicks: number;
  wins: number;
  ties: number;
  losses: number;
  delta: number;
}

export interface ShadowQuery {
  query: string;
  impressions: number;
  jaccard10: number;
  rbo: number;
  kendallTau: number;
  control: string[];
  treatment: string[];
}

export interface ShadowSummary {
  impressions: number;
  /** Means over impressions. */
  meanJaccard10: number;
  meanRbo: number;
  meanKendallTau: number;
  /** Impressions per RBO tenth: bucket i holds RBO in [i/10, (i+1)/10) (1.0 in the last). */
  rboHistogram: number[];
  /** The queries whose rankings differ most (lowest RBO), both lists side by side. */
  disagreements: ShadowQuery[];
}

export interface ExperimentReport {
  name: string;
  mode: ExperimentMode;
  impressions: number;
  impressionsWithClicks: number;
  wins: number;
  ties: number;
  losses: number;
  /** (wins − losses) / impressionsWithClicks; > 0 = TAS-B preferred. */
  delta: number;
  /** Two-sided exact sign test over wins and losses. */
  pValue: number;
  /** 95 % percentile bootstrap interval for Δ. */
  ci: [number, number];
  /** Impressions for 80 % power at the observed effect (null: no effect observed yet). */
  impressionsFor80Power: number | null;
  /** How many more impressions than logged that is (0 when enough). */
  impressionsStillNeeded: number | null;
  perQuery: QueryBreakdown[];
  shadow?: ShadowSummary;
}

export interface AnalysisOptions {
  name: string;
  mode: ExperimentMode;
  /** Per-query rows (queries with most impressions first); default 20. */
  topQueries?: number;
  bootstrapSeed?: number;
}

const OUTCOME: Record<'win' | 'tie' | 'loss', Outcome> = { win: 1, tie: 0, loss: -1 };

function eventsByImpression(events: Iterable<ExperimentEvent>): Map<string, ExperimentEvent[]> {
  const byImpression = new Map<string, ExperimentEvent[]>();
  for (const event of events) {
    const list = byImpression.get(event.impressionId);
    if (list) list.push(event);
    else byImpression.set(event.impressionId, [event]);
  }
  return byImpression;
}

function emptyRow(query: string): QueryBreakdown {
  return { query, impressions: 0, impressionsWithClicks: 0, wins: 0, ties: 0, losses: 0, delta: 0 };
}

/** Tallies interleaved impressions: overall and per query. */
function tally(impressions: readonly Impression[], events: Map<string, ExperimentEvent[]>) {
  const total = emptyRow('');
  const perQuery = new Map<string, QueryBreakdown>();
  for (const impression of impressions) {
    const row = perQuery.get(impression.query) ?? emptyRow(impression.query);
    perQuery.set(impression.query, row);
    total.impressions++;
    row.impressions++;
    const outcome = outcomeOf(creditOf(impression, events.get(impression.impressionId) ?? []));
    if (!outcome) continue;
    for (const target of [total, row]) {
      target.impressionsWithClicks++;
      if (outcome === 'win') target.wins++;
      else if (outcome === 'loss') target.losses++;
      else target.ties++;
      target.delta += OUTCOME[outcome];
    }
  }
  for (const row of [total, ...perQuery.values()])
    row.delta = row.impressionsWithClicks === 0 ? 0 : row.delta / row.impressionsWithClicks;
  return { total, perQuery: [...perQuery.values()] };
}

/** The interleaving report (and, when shadow impressions were logged, the shadow summary beside it). */
export function analyzeExperiment(
  impressions: readonly Impression[],
  events: Iterable<ExperimentEvent>,
  options: AnalysisOptions,
): ExperimentReport {
  const interleaved = impressions.filter((i) => i.mode === 'interleave');
  // a shadow impression whose background rerank failed has nothing to compare
  const shadowed = impressions.filter((i) => i.mode === 'shadow' && i.treatment.length > 0);
  const { total, perQuery } = tally(interleaved, eventsByImpression(events));
  const needed = impressionsForPower(total.impressions, total.wins, total.losses);
  const topQueries = options.topQueries ?? 20;
  return {
    name: options.name,
    mode: options.mode,
    impressions: total.impressions,
    impressionsWithClicks: total.impressionsWithClicks,
    wins: total.wins,
    ties: total.ties,
    losses: total.losses,
    delta: total.delta,
    pValue: signTestPValue(total.wins, total.losses),
    ci: bootstrapDeltaInterval(total.wins, total.ties, total.losses, { seed: options.bootstrapSeed ?? 42 }),
    impressionsFor80Power: needed ?? null,
    impressionsStillNeeded: needed === undefined ? null : Math.max(0, needed - total.impressions),
    perQuery: perQuery
      .sort((x, y) => y.impressions - x.impressions || (x.query < y.query ? -1 : x.query > y.query ? 1 : 0))
      .slice(0, topQueries),
    ...(shadowed.length > 0 ? { shadow: summarizeShadow(shadowed, topQueries) } : {}),
  };
}

/** Overlap of the two rankings per shadow impression, averaged per query; the most different queries first. */
export function summarizeShadow(impressions: readonly Impression[], topQueries = 20): ShadowSummary {
  const histogram = new Array<number>(10).fill(0);
  const perQuery = new Map<string, ShadowQuery>();
  let jaccardSum = 0;
  let rboSum = 0;
  let tauSum = 0;
  for (const impression of impressions) {
    const jaccard10 = jaccardAt(impression.control, impression.treatment, 10);
    const rbo = rankBiasedOverlap(impression.control, impression.treatment, 0.9);
    const kendallTau = kendallTauUnion(impression.control, impression.treatment);
    jaccardSum += jaccard10;
    rboSum += rbo;
    tauSum += kendallTau;
    histogram[Math.min(9, Math.floor(rbo * 10))]!++;
    const row = perQuery.get(impression.query);
    if (row) {
      row.jaccard10 += jaccard10;
      row.rbo += rbo;
      row.kendallTau += kendallTau;
      row.impressions++;
    } else {
      perQuery.set(impression.query, {
        query: impression.query,
        impressions: 1,
        jaccard10,
        rbo,
        kendallTau,
        control: impression.control,
        treatment: impression.treatment,
      });
    }
  }
  const rows = [...perQuery.values()].map((r) => ({
    ...r,
    jaccard10: r.jaccard10 / r.impressions,
    rbo: r.rbo / r.impressions,
    kendallTau: r.kendallTau / r.impressions,
  }));
  const n = impressions.length;
  return {
    impressions: n,
    meanJaccard10: n === 0 ? 0 : jaccardSum / n,
    meanRbo: n === 0 ? 0 : rboSum / n,
    meanKendallTau: n === 0 ? 0 : tauSum / n,
    rboHistogram: histogram,
    disagreements: rows.sort((x, y) => x.rbo - y.rbo).slice(0, topQueries),
  };
}
