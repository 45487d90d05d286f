// The Online and Judge tabs' calls: /api/experiments/current, /api/judgments*. Normalised into online-types.ts.
import { getJson } from './api.js';
import type { ExperimentReport, JudgeItem, QueryRow, ShadowRow } from './online-types.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const numOrNull = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const strs = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

function queryRow(v: unknown): QueryRow {
  const o = isObj(v) ? v : {};
  return {
    query: String(o['query'] ?? ''),
    impressions: num(o['impressions']),
    impressionsWithClicks: num(o['impressionsWithClicks']),
    wins: num(o['wins']),
    ties: num(o['ties']),
    losses: num(o['losses']),
    delta: num(o['delta']),
  };
}

function shadowRow(v: unknown): ShadowRow {
  const o = isObj(v) ? v : {};
  return {
    query: String(o['query'] ?? ''),
    impressions: num(o['impressions']),
    jaccard10: num(o['jaccard10']),
    rbo: num(o['rbo']),
    kendallTau: num(o['kendallTau']),
    control: strs(o['control']),
    treatment: strs(o['treatment']),
  };
}

export function normaliseReport(body: unknown): ExperimentReport {
  const o = isObj(body) ? body : {};
  const ci = Array.isArray(o['ci']) ? o['ci'] : [];
  const shadow = isObj(o['shadow']) ? o['shadow'] : undefined;
  return {
    name: String(o['name'] ?? ''),
    mode: String(o['mode'] ?? 'off'),
    impressions: num(o['impressions']),
    impressionsWithClicks: num(o['impressionsWithClicks']),
    wins: num(o['wins']),
    ties: num(o['ties']),
    losses: num(o['losses']),
    delta: num(o['delta']),
    pValue: num(o['pValue']),
    ci: [num(ci[0]), num(ci[1])],
    impressionsFor80Power: numOrNull(o['impressionsFor80Power']),
    impressionsStillNeeded: numOrNull(o['impressionsStillNeeded']),
    perQuery: Array.isArray(o['perQuery']) ? o['perQuery'].map(queryRow) : [],
    ...(shadow
      ? {
          shadow: {
            impressions: num(shadow['impressions']),
            meanJaccard10: num(shadow['meanJaccard10']),
            meanRbo: num(shadow['meanRbo']),
            meanKendallTau: num(shadow['meanKendallTau']),
            rboHistogram: Array.isArray(shadow['rboHistogram']) ? shadow['rboHistogram'].map(num) : [],
            disagreements: Array.isArray(shadow['disagreements']) ? shadow['disagreements'].map(shadowRow) : [],
          },
        }
      : {}),
  };
}

export const onlineApi = {
  async report(): Promise<ExperimentReport> {
    return normaliseReport(await getJson('/api/experiments/current'));
  },
  /** The next document to judge: of logged traffic's pool, or of an eval output's query set when `evalName` is given. */
  async nextToJudge(evalName: string | null = null, depth = 10): Promise<{ item: JudgeItem | null; judged: number }> {
    const from = evalName === null ? '' : `&eval=${encodeURIComponent(evalName)}`;
    const body = await getJson(`/api/judgments/next?depth=${depth}${from}`);
    const o = isObj(body) ? body : {};
    const item = isObj(o['item']) ? o['item'] : null;
    return {
      judged: num(o['judged']),
      item: item
        ? {
            qid: String(item['qid']),
            query: String(item['query']),
            docId: String(item['docId']),
            text: String(item['text'] ?? ''),
            remaining: num(item['remaining']),
          }
        : null,
    };
  },
  async judge(item: JudgeItem, grade: number): Promise<void> {
    await getJson('/api/judgments', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ qid: item.qid, query: item.query, docId: item.docId, grade, judge: 'dashboard' }),
    });
  },
};
