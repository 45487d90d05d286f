// Shapes of the Online and Judge tabs (GET /api/experiments/current, /api/judgments/next).

export interface QueryRow {
  query: string;
  impressions: number;
  impressionsWithClicks: number;
  wins: number;
  ties: number;
  losses: number;
  delta: number;
}

export interface ShadowRow {
  query: string;
  impressions: number;
  jaccard10: number;
  rbo: number;
  kendallTau: number;
  control: string[];
  treatment: string[];
}

export interface ExperimentReport {
  name: string;
  mode: string;
  impressions: number;
  impressionsWithClicks: number;
  wins: number;
  ties: number;
  losses: number;
  delta: number;
  pValue: number;
  ci: [number, number];
  impressionsFor80Power: number | null;
  impressionsStillNeeded: number | null;
  perQuery: QueryRow[];
  shadow?: {
    impressions: number;
    meanJaccard10: number;
    meanRbo: number;
    meanKendallTau: number;
    rboHistogram: number[];
    disagreements: ShadowRow[];
  };
}

export interface JudgeItem {
  qid: string;
  query: string;
  docId: string;
  text: string;
  remaining: number;
}
