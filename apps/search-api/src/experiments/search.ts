// `/search` with an experiment around it: the same pipeline (runSearch), then shadow or interleave.
import type { Candidate } from '@dotrank/core';
import type { ExperimentRunner, SystemName } from '@dotrank/experiments';
import { firstStageHits, rerankWithDeadline, runSearch } from '../search.js';
import type { SearchHit, SearchResponse } from '../search.js';
import type { ServerDeps } from '../types.js';
import type { SearchParams } from '../validation.js';

/** A `/search` result in an experiment: which system placed it. */
export type ExperimentHit = SearchHit & { system: SystemName };

/**
 * Shadow: the answer is the control (first-stage order); the TAS-B rerank of the same candidates runs after the
 * answer has gone, and the impression logs both rankings. The answer never waits for it.
 */
async function shadow(
  runner: ExperimentRunner,
  deps: ServerDeps,
  params: SearchParams,
  deadlineMs: number,
  requestId: string,
  impressionId: string,
): Promise<SearchResponse> {
  const seen: { candidates?: readonly Candidate[] } = {};
  const response = await runSearch(deps, { ...params, fusion: 'bm25' }, deadlineMs, requestId, seen);
  const candidates = [...(seen.candidates ?? [])];
  const treatment = async () => {
    if (candidates.length === 0) return [];
    const fusion = params.fusion === 'bm25' ? 'tasb' : params.fusion;
    const request = { query: params.q, candidates, fusion, k: params.k, requestId };
    const outcome = await rerankWithDeadline(deps, request, params.deadlineMs ?? deadlineMs);
    return outcome.result?.results.map((r) => r.id);
  };
  const control = response.results.map((h) => h.id);
  runner.run({ plan: { mode: 'shadow', impressionId }, query: params.q, k: params.k, control, treatment });
  const results: ExperimentHit[] = response.results.map((h) => ({ ...h, system: 'bm25' }));
  return { ...response, results, impressionId, experiment: 'shadow' };
}

/**
 * Interleave: the treatment's pipeline as usual (fusion tasb unless the request asks for another reranking), then
 * team-draft interleaving of the first-stage top-k and the reranked top-k. A degraded rerank has no second ranking:
 * the answer is served as it is, without an impression.
 */
async function interleave(
  runner: ExperimentRunner,
  deps: ServerDeps,
  params: SearchParams,
  deadlineMs: number,
  requestId: string,
  impressionId: string,
): Promise<SearchResponse> {
  const seen: { candidates?: readonly Candidate[] } = {};
  const fusion = params.fusion === 'bm25' ? 'tasb' : params.fusion;
  const response = await runSearch(deps, { ...params, fusion }, deadlineMs, requestId, seen);
  if (response.degraded || response.results.length === 0) return response;
  const controlHits = firstStageHits(seen.candidates ?? [], params.k);
  const byId = new Map<string, SearchHit>(controlHits.map((h) => [h.id, h]));
  for (const hit of response.results) byId.set(hit.id, hit);
  const outcome = runner.run({
    plan: { mode: 'interleave', impressionId },
    query: params.q,
    k: params.k,
    control: controlHits.map((h) => h.id),
    treatment: response.results.map((h) => h.id),
  });
  const results: ExperimentHit[] = (outcome.shown ?? []).map((s, i) => ({
    ...byId.get(s.docId)!,
    rank: i + 1,
    system: s.system,
  }));
  return { ...response, results, impressionId, experiment: 'interleave' };
}

/** runSearch's signature, with the runner's plan deciding whether the request is shadowed or interleaved. */
export function experimentSearch(runner: ExperimentRunner): typeof runSearch {
  return async (deps, params, deadlineMs, requestId) => {
    const plan = runner.plan(params.experiment);
    if (plan.mode === 'shadow') return shadow(runner, deps, params, deadlineMs, requestId, plan.impressionId);
    if (plan.mode === 'interleave') return interleave(runner, deps, params, deadlineMs, requestId, plan.impressionId);
    return runSearch(deps, params, deadlineMs, requestId);
  };
}
