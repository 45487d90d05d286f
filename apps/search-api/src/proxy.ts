// The drop-in Elasticsearch proxy: `/<index>/_search` and `_msearch` reranked within the indices it serves
// (DOTRANK_PROXY_INDICES), `GET|HEAD /` passed through for the client's product check. Request targets are checked and
// rebuilt here, only allowed headers go on, and every error made here is in Elasticsearch's error shape.
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { isDotrankError } from '@dotrank/core';
import {
  DEFAULT_WINDOW,
  ForwardingClient,
  IndexScope,
  MemoryWindowStore,
  ProxyError,
  decodedBody,
  esError,
  parseSearchBody,
  readMsearch,
  readTarget,
  resolveSourceOptions,
} from '@dotrank/elasticsearch';
import type { ForwardedResponse, ProxyTargetPath, ResolvedSourceOptions } from '@dotrank/elasticsearch';
import { callerOf, forwardTo, requestBody, send } from './proxy/http.js';
import type { Caller } from './proxy/http.js';
import { runSearch } from './proxy/search.js';
import type { ProxyContext, SearchAnswer } from './proxy/search.js';
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

const DEFAULT_WINDOW_TTL_SECONDS = 300;

/** Any error of a proxy route as Elasticsearch would shape it. */
function errorBody(error: FastifyError | Error): { status: number; body: unknown } {
  if (error instanceof ProxyError) return { status: error.status, body: error.body() };
  if (isDotrankError(error)) {
    const status = error.code === 'invalid_input' ? 400 : error.code === 'timeout' ? 504 : 502;
    const reason = error.message; // it names its field already
    const type = status === 400 ? 'illegal_argument_exception' : status === 504 ? 'timeout_exception' : 'exception';
    return { status, body: esError(status, type, reason) };
  }
  const statusCode = (error as FastifyError).statusCode;
  if (statusCode === 413) return { status: 413, body: esError(413, 'content_too_long_exception', error.message) };
  if (statusCode !== undefined && statusCode >= 400 && statusCode < 500)
    return { status: statusCode, body: esError(statusCode, 'illegal_argument_exception', error.message) };
  return { status: 500, body: esError(500, 'exception', 'dotrank proxy: internal error') };
}

/** The checked target of a request (absolute forms, dot segments and encoded delimiters refused). */
const targetOf = (request: FastifyRequest): ProxyTargetPath => readTarget(request.raw.url ?? '/');

function reply200(reply: FastifyReply, answer: SearchAnswer): FastifyReply {
  return send(reply, answer.upstream, answer.body ?? answer.upstream.body);
}

async function handleSearch(
  ctx: ProxyContext,
  bodyLimit: number,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<FastifyReply> {
  const target = targetOf(request);
  const raw = await requestBody(request, bodyLimit);
  const caller = callerOf(request, ctx.configuredAuthorization);
  const answer = await runSearch(ctx, caller, {
    index: target.index,
    params: target.params,
    raw,
    parsed: parseSearchBody(raw),
    requestId: String(request.id),
  });
  return reply200(reply, answer);
}

/** One `_msearch` item's response as Elasticsearch writes it: the search response with its status, or its error. */
async function msearchItem(run: () => Promise<SearchAnswer>): Promise<unknown> {
  let answer: SearchAnswer;
  try {
    answer = await run();
  } catch (error) {
    const { body } = errorBody(error as Error);
    return body;
  }
  const bytes = answer.body ?? (await decodedBody(answer.upstream));
  try {
    const parsed = JSON.parse((bytes ?? Buffer.alloc(0)).toString('utf8')) as Record<string, unknown>;
    return { ...parsed, status: answer.upstream.status };
  } catch {
    const status = answer.upstream.status >= 400 ? answer.upstream.status : 502;
    return esError(status, 'exception', 'dotrank proxy: the cluster answered a search of _msearch with no JSON');
  }
}

async function handleMsearch(
  ctx: ProxyContext,
  bodyLimit: number,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<FastifyReply> {
  const started = performance.now();
  const target = targetOf(request);
  if (target.index !== '') ctx.scope.check(target.index, 'index');
  const items = readMsearch(await requestBody(request, bodyLimit), target.index, target.params);
  const caller = callerOf(request, ctx.configuredAuthorization);
  // a JSON body for each single search, in the content type the caller's client speaks
  const contentType = String(request.headers['content-type'] ?? '').replace(/x-ndjson/, 'json');
  const itemCaller: Caller = {
    ...caller,
    headers: { ...caller.headers, 'content-type': contentType || 'application/json' },
  };
  const responses = await Promise.all(
    items.map((item, i) =>
      msearchItem(() => {
        const raw = Buffer.from(JSON.stringify(item.body), 'utf8');
        return runSearch(ctx, itemCaller, {
          index: item.index,
          params: item.params,
          raw,
          parsed: item.body,
          requestId: `${String(request.id)}-${i}`,
        });
      }),
    ),
  );
  const body = Buffer.from(JSON.stringify({ took: Math.round(performance.now() - started), responses }), 'utf8');
  return reply
    .code(200)
    .header('content-type', 'application/json')
    .header('x-elastic-product', 'Elasticsearch')
    .header('content-length', body.length)
    .send(body);
}

/** The cluster's root (the client's product check) goes through as it is. */
async function handleRoot(ctx: ProxyContext, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  if (request.raw.url !== '/' && !request.raw.url?.startsWith('/?')) targetOf(request);
  const caller = callerOf(request, ctx.configuredAuthorization);
  const upstream: ForwardedResponse = await forwardTo(
    ctx.forwarder,
    caller,
    request.raw.method ?? 'GET',
    '/',
    undefined,
  );
  return send(reply, upstream);
}

const SEARCH_DESCRIPTION =
  'Elasticsearch _search within the indices of DOTRANK_PROXY_INDICES, forwarded to the configured cluster and its hits ' +
  "reranked (a `rerank` section, a `text_similarity_reranker` retriever with dotrank's inference_id, match or " +
  'query_string queries, or the URI `q`); from/size page through the reranked window. Anything that cannot be ' +
  'reranked passes through byte for byte. Body: the Elasticsearch request.';
const schemaOf = (summary: string, description = SEARCH_DESCRIPTION) => ({
  tags: ['elasticsearch proxy'],
  summary,
  description,
  params: {
    type: 'object',
    properties: { index: { type: 'string', description: 'Index name (one of DOTRANK_PROXY_INDICES)' } },
  },
});

const PROXY_ROUTES = ['/:index/_search', '/_search', '/:index/_msearch', '/_msearch'];

/** DOTRANK_PROXY=0: the proxy's routes answer 404 in Elasticsearch's shape, and nothing reaches the cluster. */
const disabledProxy: FastifyPluginAsync = async (app) => {
  const off = (_req: FastifyRequest, reply: FastifyReply) =>
    reply.code(404).send(esError(404, 'resource_not_found_exception', 'dotrank proxy is turned off (DOTRANK_PROXY=0)'));
  for (const url of PROXY_ROUTES) app.route({ method: ['GET', 'POST'], url, handler: off, schema: { hide: true } });
};

/** The context every proxied search runs in, from the plugin's options. */
function contextOf(
  options: ProxyPluginOptions,
  forwarder: ForwardingClient,
  app: Parameters<FastifyPluginAsync>[0],
): ProxyContext {
  const target = options.target;
  const passage = resolveSourceOptions(target.passage);
  // resolved once per index (the scope bounds how many): a search does not read DOTRANK_INDEX_CONFIG again
  const resolved = new Map<string, ResolvedSourceOptions>();
  let textlessLogged = false;
  const passageFor = (index: string): ResolvedSourceOptions => {
    let options = resolved.get(index);
    if (!options) {
      options = target.passageFor ? resolveSourceOptions(target.passageFor(index), index) : passage;
      resolved.set(index, options);
    }
    return options;
  };
  return {
    deps: options.deps,
    forwarder,
    configuredAuthorization: Boolean(target.authorization),
    passageFor,
    scope: new IndexScope(target.indices ?? [target.passage?.index ?? passage.index]),
    plan: { inferenceId: target.inferenceId ?? 'dotrank', defaultWindow: DEFAULT_WINDOW },
    windows: target.windowStore ?? new MemoryWindowStore(),
    windowTtlSeconds: target.windowTtlSeconds ?? DEFAULT_WINDOW_TTL_SECONDS,
    modelRevision: target.modelRevision ?? 'unknown',
    deadlineMs: options.deadlineMs,
    metrics: app.apiMetrics,
    experiments: app.experiments,
    noteTextless: (ids) => {
      app.apiMetrics.textless.inc(ids.length);
      if (textlessLogged) return;
      textlessLogged = true;
      app.log.warn(
        { ids: ids.slice(0, 10), count: ids.length },
        'proxied hits without text (none of the configured text fields in the hit) were not reranked: they follow the reranked ones in first-stage order; this is logged once, dotrank_rerank_textless_candidates_total counts them',
      );
    },
    warn: (error, what) => app.log.warn({ err: error }, `window store failed ${what}; going on without it`),
  };
}

/**
 * The drop-in Elasticsearch proxy. Encapsulated, so bodies stay raw bytes here (and errors take Elasticsearch's
 * shape) while the rest of the API parses JSON.
 */
export const proxyPlugin: FastifyPluginAsync<ProxyPluginOptions> = async (app, options) => {
  if (options.target.enabled === false) return app.register(disabledProxy);
  const forwarder = new ForwardingClient(options.target);
  app.addHook('onClose', async () => forwarder.close());
  const ctx = contextOf(options, forwarder, app);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const { status, body } = errorBody(error);
    if (status >= 500 && !(error instanceof ProxyError)) request.log.error({ err: error }, 'proxy error');
    return reply.code(status).header('x-elastic-product', 'Elasticsearch').send(body);
  });
  const search = (req: FastifyRequest, reply: FastifyReply) => handleSearch(ctx, options.bodyLimit, req, reply);
  const msearch = (req: FastifyRequest, reply: FastifyReply) => handleMsearch(ctx, options.bodyLimit, req, reply);
  app.route({
    method: ['GET', 'POST'],
    url: '/:index/_search',
    handler: search,
    schema: schemaOf('Search one index (Elasticsearch API, reranked)'),
  });
  app.route({
    method: ['GET', 'POST'],
    url: '/_search',
    handler: search,
    schema: schemaOf('Refused: a search of every index', 'Answers 403: name one of the indices the proxy serves.'),
  });
  const msearchSummary = 'Multi-search (Elasticsearch API, each search reranked by the same rules)';
  app.route({ method: ['GET', 'POST'], url: '/:index/_msearch', handler: msearch, schema: schemaOf(msearchSummary) });
  app.route({ method: ['GET', 'POST'], url: '/_msearch', handler: msearch, schema: schemaOf(msearchSummary) });
  const productCheck = {
    tags: ['elasticsearch proxy'],
    summary: "The cluster's root (the Elasticsearch client's product check), passed through",
  };
  app.route({
    method: ['GET', 'HEAD'],
    url: '/',
    handler: (req, reply) => handleRoot(ctx, req, reply),
    exposeHeadRoute: false,
    schema: productCheck,
  });
};
