// Shapes the dashboard reads over HTTP. They mirror the `metrics.json` written by `dotrank eval`
// (MetricsReport in packages/eval) and the search API's JSON; the dashboard bundles no node code, so the
// shapes are restated here and every response is normalised in api.ts before the UI sees it.

export type MeasureValues = Record<string, number>;

export interface Significance {
  pValueTTest: number | null;
  pValueRandomization: number | null;
  wins: number;
  ties: number;
  losses: number;
  delta: number;
}

export interface SystemReport {
  aggregate: MeasureValues;
  perQuery: Record<string, MeasureValues>;
  significance?: Record<string, Significance>;
}

export interface RecallCurve {
  depths: number[];
  recall: number[];
}

export interface MetricsReport {
  version: number;
  collection: { name: string; queries: number; documents: number };
  createdAt: string;
  model: { id: string; revision: string } | null;
  depth: number;
  level: number;
  baseline: string;
  measures: string[];
  systems: Record<string, SystemReport>;
  firstStageRecall?: Record<string, RecallCurve>;
}

/** One eval output found under the server's --eval-dir. */
export interface EvalSummary {
  name: string;
  collection?: string;
  createdAt?: string;
  systems?: string[];
}

/** One TREC run line. */
export interface RunRow {
  qid: string;
  docId: string;
  rank: number;
  score: number;
  text?: string;
  /** The document's best passage window, when the system scored windows (`dotrank eval --doc-score`). */
  passage?: BestPassage;
}

/** A best passage: its text and where it sits in the document (UTF-16 offsets), with its score. */
export interface BestPassage {
  text: string;
  start: number;
  end: number;
  score: number;
}

export interface SearchHit {
  id: string;
  rank: number;
  score: number;
  bm25Score: number | null;
  text: string;
}

export interface SearchResponse {
  query: string;
  results: SearchHit[];
  fusion: string;
  degraded: boolean;
  reason?: string;
  timings: Record<string, number>;
}

export interface LatencyPercentiles {
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

/** The live view's normalised reading of GET /api/stats. */
export interface LiveStats {
  /** 'queue' (BullMQ workers) or 'in-process' reranking, when the API says. */
  mode: string | null;
  requestsPerSecond: number | null;
  totalRequests: number | null;
  latency: Record<string, LatencyPercentiles>;
  degradedRate: number | null;
  cacheHitRatio: number | null;
  /** Query vectors served from the query cache since the API started (absent when the API encodes no queries). */
  queryCacheHitRatio: number | null;
  queueDepth: number | null;
  activeWorkers: number | null;
}
