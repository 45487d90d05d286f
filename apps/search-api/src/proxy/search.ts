// One proxied search: checked against the proxy's scope, planned, and answered either by the cluster as it is
// (anything dotrank does not rerank) or as a page of the reranked window, the window computed once per (index,
// request without from/size, model revision) and kept for the next pages.
import type { Degradation, ResponseMeta, StageTimings } from '@dotrank/core';
import {
  buildWindow,
  checkBodyScope,
  continuationHits,
  decodedBody,
  pastWindow,
  parseWindow,
  planProxySearch,
  readSearchHits,
  targetPath,
  windowKey,
  writePage,
} from '@dotrank/elasticsearch';
import type {
  ForwardedResponse,
  ForwardingClient,
  IndexScope,
  PlanSettings,
  ProxySearchPlan,
  RankedWindow,
  ResolvedSourceOptions,
  WindowStore,
} from '@dotrank/elasticsearch';
import type { ExperimentPlan, ExperimentRunner } from '@dotrank/experiments';
import { interleaveWindow, readProxyExperiment, shadowHits } from '../experiments/proxy.js';
import type { ApiMetrics } from '../metrics.js';
import { rerankWithDeadline, workerTimings } from '../search.js';
import type { ServerDeps } from '../types.js';
import { forwardTo, jsonContentType } from './http.js';
import type { Caller } from './http.js';

type Json = Record<string, unknown>;

/** Everything a proxied search needs, built once by the plugin. */
export interface ProxyContext {
  deps: ServerDeps;
  forwarder: ForwardingClient;
  /** True when cluster credentials are configured (the caller's own are then never used). */
  configuredAuthorization: boolean;
  /**
   * How the hits of an index become passages: the same options as the Elasticsearch source for that index, so a hit
   * has one text (one cache key).
   */
  passageFor: (index: string) => ResolvedSourceOptions;
  scope: IndexScope;
  plan: PlanSettings;
  windows: WindowStore;
  windowTtlSeconds: number;
  modelRevision: string;
  deadlineMs: number;
  metrics: ApiMetrics;
  /** Counts hits without text (dotrank_rerank_textless_candidates_total) and logs them once per process. */
  noteTextless: (ids: readonly string[]) => void;
  /** The online experiment (#19): a body's `rerank.experiment` and `ext.ubi.query_id`, interleave or shadow. */
  experiments?: ExperimentRunner;
  /** Logs a window store that failed (the search goes on without it). */
  warn: (error: unknown, what: string) => void;
}

/** The answer to one search: the cluster's response as it is, or a page built here. */
export interface SearchAnswer {
  upstream: ForwardedResponse;
  /** The body to send instead of the cluster's (a reranked page). */
  body?: Buffer;
}

/** One search the proxy was asked for: index expression, query-string parameters, body bytes and parsed body. */
export interface SearchCall {
  index: string;
  params: URLSearchParams;
  raw: Buffer;
  /** The parsed body, or why it is not JSON (then it goes to the cluster as it is, which answers its own error). */
  parsed: Json | string;
  requestId: string;
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;

/** The top-level `_dotrank` of a proxied response. */
function responseMeta(degradation: Degradation | undefined, timings: StageTimings): ResponseMeta {
  if (!degradation) return { reranked: true, degraded: false, reason: null, timings };
  return { reranked: false, degraded: true, reason: degradation.reason, detail: degradation.detail, timings };
}

/** Checks the call's scope, then answers it: passed through, or a page of its reranked window. */
export async function runSearch(ctx: ProxyContext, caller: Caller, given: SearchCall): Promise<SearchAnswer> {
  ctx.scope.check(given.index, 'index');
  let call = given;
  let experiment: ExperimentPlan | undefined;
  if (typeof call.parsed !== 'string') {
    checkBodyScope(ctx.scope, call.parsed);
    // the cluster never sees rerank.experiment nor ext.ubi (Elasticsearch refuses an unknown ext)
    const read = readProxyExperiment(call.parsed);
    if (read.body !== call.parsed)
      call = { ...call, parsed: read.body, raw: Buffer.from(JSON.stringify(read.body), 'utf8') };
    experiment = ctx.experiments?.plan(read.requested, read.queryId);
  }
  const decision =
    typeof call.parsed === 'string'
      ? ({ rerank: false, why: call.parsed } as const)
      : planProxySearch(call.parsed, call.params, ctx.passageFor(call.index), ctx.plan);
  if (!decision.rerank) return { upstream: await passThrough(ctx, caller, call) };
  // experiments cover the first page (a later page of an impression is the reranked window's, unattributed)
  if (experiment?.mode === 'shadow' && decision.plan.from === 0)
    return shadowSearch(ctx, caller, call, decision.plan, experiment);
  return pageOf(ctx, caller, call, decision.plan, experiment?.mode === 'interleave' ? experiment : undefined);
}

/**
 * Shadow: the cluster's own first page (Elasticsearch order, each hit `_dotrank.system: bm25`) is the answer; the
 * reranked window of the same request is computed after it has gone, and the impression logs both orders.
 */
async function shadowSearch(
  ctx: ProxyContext,
  caller: Caller,
  call: SearchCall,
  plan: ProxySearchPlan,
  experiment: ExperimentPlan,
): Promise<SearchAnswer> {
  const started = performance.now();
  const upstream = await firstStage(ctx, caller, call, plan, 0, plan.size);
  if (upstream.status < 200 || upstream.status >= 300) return { upstream };
  const body = await decodedBody(upstream);
  let parsed: Json;
  try {
    parsed = JSON.parse(body?.toString('utf8') ?? '') as Json;
  } catch {
    return { upstream };
  }
  const hitsObject = parsed['hits'] as { hits?: unknown } | undefined;
  if (!Array.isArray(hitsObject?.hits)) return { upstream };
  const rerank = async () => {
    const computed = await computeWindow(ctx, caller, call, plan, performance.now());
    if ('answer' in computed || computed.degradation) return undefined;
    return computed.window.hits.map((hit) => String(hit['_id']));
  };
  const page = shadowHits(ctx.experiments!, experiment, plan.query, hitsObject.hits as Json[], plan.size, rerank);
  const meta: ResponseMeta = {
    reranked: false,
    degraded: false,
    reason: null,
    detail: 'shadow experiment: first-stage order; the rerank runs after the answer',
    timings: { firstStageMs: round(performance.now() - started), totalMs: round(performance.now() - started) },
    impression_id: experiment.impressionId,
  };
  const out = { ...parsed, hits: { ...hitsObject, hits: page.hits }, _dotrank: meta };
  const headers = { ...upstream.headers };
  delete headers['content-length'];
  delete headers['content-encoding'];
  return {
    upstream: { status: 200, headers, body: Buffer.alloc(0) },
    body: Buffer.from(JSON.stringify(out), 'utf8'),
  };
}

function passThrough(ctx: ProxyContext, caller: Caller, call: SearchCall): Promise<ForwardedResponse> {
  const method = call.raw.length > 0 ? 'POST' : 'GET';
  return forwardTo(ctx.forwarder, caller, method, targetPath(call.index, '_search', call.params), call.raw);
}

/** Asks the cluster for one first-stage page of the plan's request. */
function firstStage(
  ctx: ProxyContext,
  caller: Caller,
  call: SearchCall,
  plan: ProxySearchPlan,
  from: number,
  size: number,
): Promise<ForwardedResponse> {
  const body = Buffer.from(JSON.stringify({ ...plan.firstStage, from, size }), 'utf8');
  const path = targetPath(call.index, '_search', plan.params);
  return forwardTo(ctx.forwarder, caller, 'POST', path, body, jsonContentType(caller.headers));
}

async function storedWindow(ctx: ProxyContext, key: string): Promise<RankedWindow | undefined> {
  try {
    return parseWindow(await ctx.windows.get(key));
  } catch (error) {
    ctx.warn(error, 'reading a reranked window');
    return undefined;
  }
}

/** A page of the plan's window: from the store when kept there, else computed (and kept when reranked). */
async function pageOf(
  ctx: ProxyContext,
  caller: Caller,
  call: SearchCall,
  plan: ProxySearchPlan,
  interleave?: ExperimentPlan,
): Promise<SearchAnswer> {
  const started = performance.now();
  const key = windowKey({
    index: call.index,
    request: plan.keyRequest,
    params: plan.params,
    modelRevision: ctx.modelRevision,
    arm: null,
    credential: caller.credential,
  });
  let window = await storedWindow(ctx, key);
  const fromStore = window !== undefined;
  let timings: StageTimings = {};
  let degradation: Degradation | undefined;
  let upstream: ForwardedResponse | undefined;
  if (!window) {
    const computed = await computeWindow(ctx, caller, call, plan, started);
    if ('answer' in computed) return computed.answer;
    ({ window, timings, degradation, upstream } = computed);
    if (!degradation) {
      await ctx.windows
        .set(key, JSON.stringify(window), ctx.windowTtlSeconds)
        .catch((error: unknown) => ctx.warn(error, 'keeping a reranked window'));
    }
  }
  let hits = window.hits.slice(plan.from, plan.from + plan.size);
  const past = pastWindow(window, plan.from, plan.size, plan.continuesPastWindow);
  // interleave: the first page, when the window was reranked and covers it (else served as it is, no impression)
  let impressionId: string | undefined;
  if (interleave && plan.from === 0 && !past && !degradation && ctx.experiments) {
    hits = interleaveWindow(ctx.experiments, interleave, plan.query, window.hits, plan.size).hits;
    impressionId = interleave.impressionId;
  }
  if (past) {
    const more = await firstStage(ctx, caller, call, plan, past.from, past.size);
    const read = await hitsOf(more);
    if (!read) return { upstream: more };
    hits.push(...continuationHits(read, past.from, window));
    upstream ??= more;
    if (fromStore) timings = { firstStageMs: round(performance.now() - started) };
  }
  const totalMs = performance.now() - started;
  timings = { ...timings, totalMs: round(totalMs) };
  if (fromStore) ctx.metrics.recordSearch({ total: totalMs }, undefined);
  const headers = upstream?.headers ?? window.headers ?? {};
  const answer: ForwardedResponse = { status: 200, headers, body: Buffer.alloc(0) };
  const meta = responseMeta(degradation, timings);
  return {
    upstream: answer,
    body: writePage(window, hits, impressionId ? { ...meta, impression_id: impressionId } : meta),
  };
}

/** The hits of a successful cluster response, or undefined. */
async function hitsOf(response: ForwardedResponse): Promise<Json[] | undefined> {
  if (response.status < 200 || response.status >= 300) return undefined;
  const body = await decodedBody(response);
  if (!body) return undefined;
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { hits?: { hits?: unknown } };
    return Array.isArray(parsed.hits?.hits) ? (parsed.hits.hits as Json[]) : undefined;
  } catch {
    return undefined;
  }
}

type Computed =
  | { answer: SearchAnswer }
  | { window: RankedWindow; timings: StageTimings; degradation?: Degradation; upstream: ForwardedResponse };

/**
 * Fetches the window's first-stage hits and reranks them. A cluster error is answered as it is; hits dotrank cannot
 * read (no text, no id) send the original request to the cluster instead.
 */
async function computeWindow(
  ctx: ProxyContext,
  caller: Caller,
  call: SearchCall,
  plan: ProxySearchPlan,
  started: number,
): Promise<Computed> {
  const upstream = await firstStage(ctx, caller, call, plan, 0, plan.window);
  if (upstream.status < 200 || upstream.status >= 300) return { answer: { upstream } };
  const body = await decodedBody(upstream);
  const read = body ? readSearchHits(body, plan.passage) : { why: 'unreadable response' };
  if ('why' in read) {
    if (read.why === 'no hits') return { answer: { upstream } };
    return { answer: await notReranked(ctx, caller, call, read.why) };
  }
  const firstStageMs = performance.now() - started;
  const outcome = await rerankWithDeadline(
    ctx.deps,
    {
      query: plan.query,
      candidates: read.candidates,
      fusion: plan.fusion,
      k: read.candidates.length,
      requestId: call.requestId,
    },
    ctx.deadlineMs,
  );
  const result = outcome.result;
  if (result?.textless?.length) ctx.noteTextless(result.textless);
  // the reason every search path reports (rerank-core's degradationFor, through rerankWithDeadline)
  const degradation = result
    ? undefined
    : (outcome.degradation ?? { reason: 'rerank_failed' as const, detail: 'the reranker gave no result' });
  const ranking = result?.results.map((r) => ({
    id: r.id,
    score: r.score,
    ...(r.tasbScore !== undefined ? { tasbScore: r.tasbScore } : {}),
    ...(r.passage ? { passage: r.passage } : {}),
  }));
  const window = buildWindow(read, ranking, plan);
  window.headers = {
    'content-type': upstream.headers['content-type'],
    'x-elastic-product': upstream.headers['x-elastic-product'],
  };
  const t = result?.timings;
  ctx.metrics.recordSearch(
    {
      firstStage: firstStageMs,
      rerank: outcome.rerankMs,
      total: performance.now() - started,
      ...(t
        ? { encodeQuery: t.encodeQueryMs, cacheRead: t.cacheReadMs, encodeMisses: t.encodeMissesMs, score: t.scoreMs }
        : {}),
      ...(t?.queueWaitMs !== undefined ? { queueWait: t.queueWaitMs } : {}),
    },
    degradation?.reason,
    result?.cache,
  );
  const timings: StageTimings = {
    firstStageMs: round(firstStageMs),
    rerankMs: round(outcome.rerankMs),
    ...(result ? workerTimings(result) : {}),
  };
  return { window, timings, upstream, ...(degradation ? { degradation } : {}) };
}

/**
 * The cluster's answer to the request as sent, for hits dotrank cannot rerank (e.g. a hit without an id): with the
 * reason in the top-level `_dotrank` when the answer is JSON, else byte for byte.
 */
async function notReranked(ctx: ProxyContext, caller: Caller, call: SearchCall, why: string): Promise<SearchAnswer> {
  const upstream = await passThrough(ctx, caller, call);
  if (upstream.status < 200 || upstream.status >= 300) return { upstream };
  const body = await decodedBody(upstream);
  let parsed: unknown;
  try {
    parsed = body ? JSON.parse(body.toString('utf8')) : undefined;
  } catch {
    return { upstream };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return { upstream };
  const meta: ResponseMeta = {
    reranked: false,
    degraded: false,
    reason: null,
    detail: `not reranked: ${why}`,
    timings: {},
  };
  return { upstream, body: Buffer.from(JSON.stringify({ ...parsed, _dotrank: meta }), 'utf8') };
}
