// The drop-in Elasticsearch `_search` proxy: HTTP plumbing over @dotrank/elasticsearch, which reads the request,
// forwards it, turns hits into candidates and writes the reranked response with its `_dotrank` metadata.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { isDotrankError } from '@dotrank/core';
import type { Degradation, ResponseMeta, StageTimings } from '@dotrank/core';
import {
  ForwardingClient,
  decodedBody,
  planProxySearch,
  readSearchHits,
  resolveSourceOptions,
  stripHopByHop,
  writeSearchResponse,
} from '@dotrank/elasticsearch';
import type { ForwardedResponse, ProxySearchPlan, ResolvedSourceOptions, SearchHits } from '@dotrank/elasticsearch';
import type { ApiMetrics } from './metrics.js';
import { rerankWithDeadline, workerTimings } from './search.js';
import type { ProxyTarget, ServerDeps } from './types.js';

/** What the proxy plugin is given: the cluster, the reranker behind it and the limits. */
export interface ProxyPluginOptions {
  deps: ServerDeps;
  /** The cluster to forward to (only this one is ever contacted). */
  target: ProxyTarget;
  deadlineMs: number;
  /** Limit for bodies read by hand (GET with a body), bytes. */
  bodyLimit: number;
}

interface ProxyContext {
  deps: ServerDeps;
  forwarder: ForwardingClient;
  /** How hits become passages: the same options as the Elasticsearch source, so a hit has one text (one cache key). */
  passage: ResolvedSourceOptions;
  deadlineMs: number;
  metrics: ApiMetrics;
  bodyLimit: number;
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;

/** The top-level `_dotrank` of a proxied response. */
function responseMeta(degradation: Degradation | undefined, timings: StageTimings): ResponseMeta {
  if (!degradation) return { reranked: true, degraded: false, reason: null, timings };
  return { reranked: false, degraded: true, reason: degradation.reason, detail: degradation.detail, timings };
}

/** Writes a cluster response (or one built from it) with the cluster's headers, minus hop-by-hop ones. */
function send(reply: FastifyReply, upstream: ForwardedResponse, body: Buffer = upstream.body): FastifyReply {
  const headers = stripHopByHop(upstream.headers);
  if (body !== upstream.body) delete headers['content-encoding'];
  reply.code(upstream.status);
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) reply.header(name, value);
  reply.header('content-length', body.length);
  return reply.send(body);
}

/** Forwards the request (with `body`), answering 502/504 itself when the cluster is unreachable or too slow. */
async function forward(
  ctx: ProxyContext,
  request: FastifyRequest,
  reply: FastifyReply,
  body: Buffer,
): Promise<ForwardedResponse | undefined> {
  const headers = { ...request.headers };
  delete headers['x-api-key'];
  // `Authorization: ApiKey <our key>` authenticated against dotrank itself and is not the cluster's
  if (request.dotrankAuthByAuthorization) delete headers['authorization'];
  const method = request.raw.method ?? 'GET';
  try {
    return await ctx.forwarder.send({
      method,
      path: request.raw.url ?? '/',
      headers,
      ...(method === 'HEAD' ? {} : { body }),
    });
  } catch (error) {
    if (!isDotrankError(error)) throw error;
    request.log.warn({ err: error }, 'Elasticsearch did not answer');
    await reply.code(error.code === 'timeout' ? 504 : 502).send(error.toJSON());
    return undefined;
  }
}

/** The cluster's hits as candidates, or undefined when the response cannot be reranked (it then passes through). */
async function rerankableHits(upstream: ForwardedResponse, plan: ProxySearchPlan): Promise<SearchHits | undefined> {
  if (upstream.status < 200 || upstream.status >= 300) return undefined;
  const body = await decodedBody(upstream);
  if (!body) return undefined;
  const read = readSearchHits(body, plan.passage);
  return 'why' in read ? undefined : read;
}

async function handleSearch(ctx: ProxyContext, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const started = performance.now();
  const body = Buffer.isBuffer(request.body) ? request.body : await readRaw(request, ctx.bodyLimit);
  const url = request.raw.url ?? '/';
  const decision = planProxySearch(
    body,
    new URLSearchParams(url.includes('?') ? url.slice(url.indexOf('?') + 1) : ''),
    ctx.passage,
  );
  const upstream = await forward(ctx, request, reply, decision.rerank ? decision.plan.forwardBody : body);
  if (!upstream) return reply;
  const read = decision.rerank ? await rerankableHits(upstream, decision.plan) : undefined;
  if (!decision.rerank || !read) return send(reply, upstream);
  const plan = decision.plan;
  const firstStageMs = performance.now() - started;
  const outcome = await rerankWithDeadline(
    ctx.deps,
    {
      query: plan.query,
      candidates: read.candidates,
      fusion: plan.fusion,
      k: read.candidates.length,
      requestId: String(request.id),
    },
    ctx.deadlineMs,
  );
  const totalMs = performance.now() - started;
  const result = outcome.result;
  // the reason every search path reports (rerank-core's degradationFor, through rerankWithDeadline)
  const degradation = result
    ? undefined
    : (outcome.degradation ?? { reason: 'rerank_failed', detail: 'the reranker gave no result' });
  const timings: StageTimings = {
    firstStageMs: round(firstStageMs),
    rerankMs: round(outcome.rerankMs),
    ...(result ? workerTimings(result) : {}),
    totalMs: round(totalMs),
  };
  const t = result?.timings;
  ctx.metrics.recordSearch(
    {
      firstStage: firstStageMs,
      rerank: outcome.rerankMs,
      total: totalMs,
      ...(t
        ? { encodeQuery: t.encodeQueryMs, cacheRead: t.cacheReadMs, encodeMisses: t.encodeMissesMs, score: t.scoreMs }
        : {}),
      ...(t?.queueWaitMs !== undefined ? { queueWait: t.queueWaitMs } : {}),
    },
    degradation?.reason,
    result?.cache,
  );
  return send(
    reply,
    upstream,
    writeSearchResponse(read, result?.results, responseMeta(degradation, timings), plan.size),
  );
}

/** Anything that is not a search (the client's `GET|HEAD /` product check) goes through as it is. */
async function handleOther(ctx: ProxyContext, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const upstream = await forward(ctx, request, reply, Buffer.alloc(0));
  return upstream ? send(reply, upstream) : reply;
}

/** The body of a request Fastify did not parse (a GET with a body), up to `limit` bytes. */
function readRaw(request: FastifyRequest, limit: number): Promise<Buffer> {
  const raw = request.raw;
  if (raw.readableEnded || raw.method === 'HEAD') return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      // keep reading (and dropping) the rest, so the client gets its 413 instead of a reset connection
      raw.off('data', onData);
      raw.resume();
      reject(Object.assign(new Error('body too large'), { code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 }));
    };
    raw.on('data', onData);
    raw.on('end', () => resolve(Buffer.concat(chunks)));
    raw.on('error', reject);
  });
}

const SEARCH_DESCRIPTION =
  'Elasticsearch _search, forwarded to the configured cluster and its hits reranked (top-level `rerank` section, ' +
  'match queries or the URI `q`); anything that cannot be reranked passes through byte for byte. Body: the Elasticsearch request.';
const searchSchema = (summary: string, params?: object) => ({
  tags: ['elasticsearch proxy'],
  summary,
  description: SEARCH_DESCRIPTION,
  ...(params ? { params } : {}),
});
const indexParams = {
  type: 'object',
  properties: { index: { type: 'string', description: 'Index name or pattern (as Elasticsearch takes it)' } },
};

/**
 * The drop-in Elasticsearch proxy: `/:index/_search` (and `/_search`) reranked, `GET|HEAD /` (the client's product
 * check) passed through. Encapsulated, so bodies stay raw bytes here while the rest of the API parses JSON.
 */
export const proxyPlugin: FastifyPluginAsync<ProxyPluginOptions> = async (app, options) => {
  const forwarder = new ForwardingClient(options.target);
  app.addHook('onClose', async () => forwarder.close());
  const ctx: ProxyContext = {
    deps: options.deps,
    forwarder,
    passage: resolveSourceOptions(options.target.passage),
    deadlineMs: options.deadlineMs,
    metrics: app.apiMetrics,
    bodyLimit: options.bodyLimit,
  };
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  const search = (req: FastifyRequest, reply: FastifyReply) => handleSearch(ctx, req, reply);
  const other = (req: FastifyRequest, reply: FastifyReply) => handleOther(ctx, req, reply);
  app.route({
    method: ['GET', 'POST'],
    url: '/:index/_search',
    handler: search,
    schema: searchSchema('Search one index (Elasticsearch API, reranked)', indexParams),
  });
  app.route({
    method: ['GET', 'POST'],
    url: '/_search',
    handler: search,
    schema: searchSchema('Search all indices (Elasticsearch API, reranked)'),
  });
  const productCheck = {
    tags: ['elasticsearch proxy'],
    summary: "The cluster's root (the Elasticsearch client's product check), passed through",
  };
  app.route({ method: ['GET', 'HEAD'], url: '/', handler: other, exposeHeadRoute: false, schema: productCheck });
};
