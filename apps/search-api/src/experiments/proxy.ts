// The `_search` proxy's side of an online experiment, kept apart from the proxy's own flow: what a proxied body asks
// for (`rerank.experiment`, a User Behavior Insights `ext.ubi.query_id`), the body the cluster may see (without
// them: Elasticsearch refuses an unknown `ext`), and the hits to answer with (interleaved, or the cluster's order in
// shadow mode), each saying under `_dotrank.system` which system placed it.
import { ValidationError } from '@dotrank/core';
import { EXPERIMENT_MODES } from '@dotrank/experiments';
import type { ExperimentMode, ExperimentOutcome, ExperimentPlan, ExperimentRunner } from '@dotrank/experiments';

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** What one proxied search body asks of the experiment, and the body to plan and forward. */
export interface ProxyExperimentRequest {
  /** The body without `rerank.experiment` (so windows are shared across arms) and without `ext.ubi`. */
  body: Json;
  /** `rerank.experiment`, when given. */
  requested?: ExperimentMode;
  /** The client's own impression id (`ext.ubi.query_id`), when given. */
  queryId?: string;
}

/**
 * Reads `rerank.experiment` (one of off, shadow, interleave; anything else is refused naming the field) and
 * `ext.ubi.query_id`, and removes both from the body; an `ext` left empty goes too. The caller's body is not changed.
 */
export function readProxyExperiment(body: Json): ProxyExperimentRequest {
  const out: ProxyExperimentRequest = { body };
  let next = body;
  const rerank = body['rerank'];
  if (isObject(rerank) && rerank['experiment'] !== undefined) {
    const mode = rerank['experiment'];
    if (typeof mode !== 'string' || !(EXPERIMENT_MODES as readonly string[]).includes(mode))
      throw new ValidationError(
        'rerank.experiment',
        `must be one of ${EXPERIMENT_MODES.join(', ')} (got ${JSON.stringify(mode)})`,
      );
    out.requested = mode as ExperimentMode;
    const { experiment: _, ...rest } = rerank;
    next = { ...next, rerank: rest };
  }
  const ext = body['ext'];
  if (isObject(ext) && ext['ubi'] !== undefined) {
    const ubi = ext['ubi'];
    if (isObject(ubi) && ubi['query_id'] !== undefined) {
      if (typeof ubi['query_id'] !== 'string' || ubi['query_id'] === '')
        throw new ValidationError('ext.ubi.query_id', 'must be a non-empty string');
      out.queryId = ubi['query_id'];
    }
    const { ubi: _, ...rest } = ext;
    const { ext: __, ...withoutExt } = next;
    next = Object.keys(rest).length > 0 ? { ...withoutExt, ext: rest } : withoutExt;
  }
  out.body = next;
  return out;
}

/** A proxied hit's id and its first-stage rank (`_dotrank.first_stage_rank`, 1-based), as the window keeps them. */
function idOf(hit: Json): string {
  return String(hit['_id']);
}
function firstStageRankOf(hit: Json, fallback: number): number {
  const meta = hit['_dotrank'];
  const rank = isObject(meta) ? meta['first_stage_rank'] : undefined;
  return typeof rank === 'number' ? rank : fallback;
}

const withSystem = (hit: Json, system: string): Json => ({
  ...hit,
  _dotrank: { ...(isObject(hit['_dotrank']) ? hit['_dotrank'] : {}), system },
});

/** The hits to answer with and the impression of an experiment over one proxied page. */
export interface ProxyExperimentPage {
  hits: Json[];
  outcome: ExperimentOutcome;
}

/**
 * Interleave over a reranked window (best first, each hit with its first-stage rank): team-draft interleaving of the
 * first-stage top-`size` and the reranked top-`size`; each hit says its system under `_dotrank.system`.
 */
export function interleaveWindow(
  runner: ExperimentRunner,
  plan: ExperimentPlan,
  query: string,
  window: readonly Json[],
  size: number,
): ProxyExperimentPage {
  const firstStage = window
    .map((hit, i) => ({ hit, rank: firstStageRankOf(hit, i + 1) }))
    .sort((a, b) => a.rank - b.rank)
    .map((h) => h.hit);
  const byId = new Map(window.map((hit) => [idOf(hit), hit]));
  const outcome = runner.run({
    plan,
    query,
    k: size,
    control: firstStage.map(idOf),
    treatment: window.map(idOf),
  });
  const hits = (outcome.shown ?? []).map((s) => withSystem(byId.get(s.docId)!, s.system));
  return { hits, outcome };
}

/**
 * Shadow over the cluster's own hits (its order is the answer, each hit `system: bm25`); `rerank` gives the TAS-B
 * order of the same hits and runs after the answer has gone.
 */
export function shadowHits(
  runner: ExperimentRunner,
  plan: ExperimentPlan,
  query: string,
  hits: readonly Json[],
  size: number,
  rerank: () => Promise<readonly string[] | undefined>,
): ProxyExperimentPage {
  const shown = hits.slice(0, size);
  const outcome = runner.run({ plan, query, k: size, control: shown.map(idOf), treatment: rerank });
  return { hits: shown.map((hit) => withSystem(hit, 'bm25')), outcome };
}
