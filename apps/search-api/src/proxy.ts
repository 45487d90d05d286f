import { request as httpRequest, Agent as HttpAgent } from 'node:http';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import { promisify } from 'node:util';
import { brotliDecompress, gunzip, inflate } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { FUSION_MODES } from '@dotrank/core';
import type { Candidate, FusionMode } from '@dotrank/core';
import type { ApiMetrics } from './metrics.js';
import { rerankWithDeadline } from './search.js';
import type { ProxyTarget, ServerDeps } from './types.js';

/** Headers that belong to one hop and are never forwarded (RFC 9110 §7.6.1), plus our own auth. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
]);

export const DEFAULT_TEXT_FIELDS = ['title', 'text'];

function stripHopByHop(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const listed = new Set(
    String(headers['connection'] ?? '')
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || listed.has(name)) continue;
    out[name] = value;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Reading the query text out of an Elasticsearch search body.

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

function textOfLeaf(kind: string, spec: unknown): string[] {
  if (kind === 'multi_match' || kind === 'query_string' || kind === 'simple_query_string') {
    return isObject(spec) && typeof spec['query'] === 'string' ? [spec['query']] : [];
  }
  if (kind === 'match' || kind === 'match_phrase' || kind === 'match_bool_prefix') {
    if (!isObject(spec)) return [];
    const out: string[] = [];
    for (const value of Object.values(spec)) {
      if (typeof value === 'string') out.push(value);
      else if (isObject(value) && typeof value['query'] === 'string') out.push(value['query']);
    }
    return out;
  }
  return [];
}

/** The text of `match`/`multi_match`/`query_string` queries, also inside `bool.must`/`bool.should`. */
export function extractQueryText(query: unknown): string | undefined {
  const texts: string[] = [];
  const visit = (node: unknown, depth: number): void => {
    if (!isObject(node) || depth > 16) return;
    for (const [kind, spec] of Object.entries(node)) {
      if (kind === 'bool' && isObject(spec)) {
        for (const clause of ['must', 'should'] as const) {
          const value = spec[clause];
          for (const child of Array.isArray(value) ? value : [value]) visit(child, depth + 1);
        }
      } else {
        texts.push(...textOfLeaf(kind, spec));
      }
    }
  };
  visit(query, 0);
  const text = texts.join(' ').trim();
  return text === '' ? undefined : text;
}

export interface RerankPlan {
  query: string;
  fusion: FusionMode;
  fields: string[];
  /** The body to forward: the original bytes, or the body without its `rerank` section. */
  forwardBody: Buffer;
  /** How many hits the client asked for (the response is cut back to it when a rerank window widened it). */
  size?: number;
}

export type PlanDecision = { rerank: true; plan: RerankPlan } | { rerank: false; why: string };

const QS_BLOCKERS = ['scroll', 'sort', 'search_after'];

/**
 * Decides whether a search request can be reranked. Anything it cannot rerank passes through untouched:
 * aggregations-only (size 0), sorts, scroll, search_after, pagination (from > 0), `_source: false`, no query text.
 */
export function planRerank(body: Buffer, query: URLSearchParams, defaultFields: readonly string[]): PlanDecision {
  for (const name of QS_BLOCKERS) if (query.has(name)) return { rerank: false, why: `${name} in query string` };
  if (query.get('size') === '0') return { rerank: false, why: 'size 0' };
  if ((Number(query.get('from')) || 0) > 0) return { rerank: false, why: 'from > 0' };
  if (query.get('_source') === 'false') return { rerank: false, why: '_source false' };

  let parsed: unknown = {};
  if (body.length > 0) {
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      return { rerank: false, why: 'body is not JSON' };
    }
  }
  if (!isObject(parsed)) return { rerank: false, why: 'body is not an object' };
  const section = parsed['rerank'];
  let forwardBody = body;
  let explicitQuery: string | undefined;
  let fusion: FusionMode = 'tasb';
  let fields = [...defaultFields];
  let window: number | undefined;
  if (section !== undefined) {
    if (!isObject(section)) return { rerank: false, why: 'rerank section is not an object' };
    const { rerank: _drop, ...rest } = parsed;
    parsed = rest;
    if (typeof section['query'] === 'string' && section['query'].trim() !== '') explicitQuery = section['query'];
    if (typeof section['fusion'] === 'string' && (FUSION_MODES as readonly string[]).includes(section['fusion'])) {
      fusion = section['fusion'] as FusionMode;
    }
    const field = section['field'] ?? section['fields'];
    if (typeof field === 'string') fields = [field];
    else if (Array.isArray(field) && field.every((f) => typeof f === 'string') && field.length > 0) fields = field as string[];
    if (typeof section['window'] === 'number' && Number.isInteger(section['window']) && section['window'] > 0) window = section['window'];
  }
  const request = parsed as Json;
  if (request['size'] === 0) return { rerank: false, why: 'size 0' };
  if (typeof request['from'] === 'number' && request['from'] > 0) return { rerank: false, why: 'from > 0' };
  for (const name of ['sort', 'search_after', 'scroll', 'pit', 'collapse', 'rescore'] as const) {
    if (request[name] !== undefined) return { rerank: false, why: name };
  }
  const source = request['_source'];
  if (source === false) return { rerank: false, why: '_source false' };
  if (Array.isArray(source) || typeof source === 'string') {
    const included = Array.isArray(source) ? source : [source];
    if (!fields.some((f) => included.includes(f) || included.some((p) => typeof p === 'string' && p.endsWith('*') && f.startsWith(p.slice(0, -1))))) {
      return { rerank: false, why: '_source excludes the text fields' };
    }
  }
  const text = explicitQuery ?? extractQueryText(request['query']) ?? query.get('q') ?? undefined;
  if (!text || text.trim() === '') return { rerank: false, why: 'no query text' };
  const size = typeof request['size'] === 'number' ? request['size'] : query.has('size') ? Number(query.get('size')) : undefined;
  if (window !== undefined && window > (size ?? 10)) request['size'] = window;
  if (section !== undefined) forwardBody = Buffer.from(JSON.stringify(request), 'utf8');
  return {
    rerank: true,
    plan: { query: text, fusion, fields, forwardBody, ...(window !== undefined ? { size: size ?? 10 } : {}) },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Forwarding.

export interface UpstreamResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export class Upstream {
  private readonly base: URL;
  private readonly agent: HttpAgent | HttpsAgent;

  constructor(private readonly target: ProxyTarget) {
    this.base = new URL(target.url);
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') {
      throw new Error(`ELASTICSEARCH_URL must be http(s) (got ${target.url})`);
    }
    this.agent =
      this.base.protocol === 'https:'
        ? new HttpsAgent({ keepAlive: true, ...(target.ca ? { ca: target.ca } : {}) })
        : new HttpAgent({ keepAlive: true });
  }

  /** Sends `method pathAndQuery` to the configured cluster; the request's own Host is never used. */
  send(method: string, pathAndQuery: string, headers: OutgoingHttpHeaders, body: Buffer | undefined): Promise<UpstreamResponse> {
    const basePath = this.base.pathname.replace(/\/$/, '');
    const outgoing: OutgoingHttpHeaders = { ...headers, host: this.base.host };
    if (body !== undefined && (body.length > 0 || method !== 'GET')) outgoing['content-length'] = body.length;
    if (this.target.authorization) outgoing['authorization'] = this.target.authorization;
    const send = this.base.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(
        {
          protocol: this.base.protocol,
          hostname: this.base.hostname,
          port: this.base.port || undefined,
          method,
          path: basePath + pathAndQuery,
          headers: outgoing,
          agent: this.agent,
          timeout: this.target.timeoutMs ?? 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error('Elasticsearch did not answer in time')));
      req.on('error', reject);
      req.end(body && body.length > 0 ? body : undefined);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

const inflaters: Record<string, (b: Buffer) => Promise<Buffer>> = {
  gzip: promisify(gunzip),
  'x-gzip': promisify(gunzip),
  deflate: promisify(inflate),
  br: promisify(brotliDecompress),
};

// ---------------------------------------------------------------------------------------------------------------
// Reranking a response.

interface EsHit {
  _id?: unknown;
  _score?: unknown;
  _source?: unknown;
  [key: string]: unknown;
}

function textFromSource(source: unknown, fields: readonly string[]): string | undefined {
  if (!isObject(source)) return undefined;
  const parts: string[] = [];
  for (const field of fields) {
    let value: unknown = source;
    for (const step of field.split('.')) value = isObject(value) ? value[step] : undefined;
    if (typeof value === 'string' && value.trim() !== '') parts.push(value);
    else if (Array.isArray(value)) parts.push(...value.filter((v): v is string => typeof v === 'string'));
  }
  return parts.length ? parts.join(' ') : undefined;
}

export interface ProxyContext {
  deps: ServerDeps;
  upstream: Upstream;
  textFields: string[];
  deadlineMs: number;
  metrics: ApiMetrics;
  /** Limit for bodies read by hand (GET with a body), bytes. */
  bodyLimit: number;
}

function sendRaw(reply: FastifyReply, upstream: UpstreamResponse, extra: Record<string, string> = {}): FastifyReply {
  const headers = stripHopByHop(upstream.headers);
  reply.code(upstream.status);
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) reply.header(name, value);
  for (const [name, value] of Object.entries(extra)) reply.header(name, value);
  reply.header('content-length', upstream.body.length);
  return reply.send(upstream.body);
}

async function handleProxy(ctx: ProxyContext, request: FastifyRequest, reply: FastifyReply, searchable: boolean): Promise<FastifyReply> {
  const handlerStart = performance.now();
  const rawBody = Buffer.isBuffer(request.body) ? request.body : await readRaw(request, ctx.bodyLimit);
  const url = request.raw.url ?? '/';
  const qsIndex = url.indexOf('?');
  const query = new URLSearchParams(qsIndex >= 0 ? url.slice(qsIndex + 1) : '');
  const headers = forwardHeaders(request);
  const decision: PlanDecision = searchable ? planRerank(rawBody, query, ctx.textFields) : { rerank: false, why: 'not a search' };
  const method = request.raw.method ?? 'GET';
  let upstream: UpstreamResponse;
  const body = decision.rerank ? decision.plan.forwardBody : rawBody;
  try {
    upstream = await ctx.upstream.send(method, url, headers, method === 'HEAD' ? undefined : body);
  } catch (error) {
    request.log.warn({ err: error }, 'Elasticsearch unreachable');
    return reply.code(502).send({ error: 'unavailable', field: 'elasticsearch', message: `elasticsearch: ${(error as Error).message}` });
  }
  if (!decision.rerank) return sendRaw(reply, upstream);
  if (upstream.status < 200 || upstream.status >= 300) return sendRaw(reply, upstream);

  const plan = decision.plan;
  const encoding = String(upstream.headers['content-encoding'] ?? 'identity').toLowerCase();
  let text: Buffer;
  try {
    const inflate = inflaters[encoding];
    text = inflate ? await inflate(upstream.body) : upstream.body;
  } catch {
    return sendRaw(reply, upstream);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.toString('utf8'));
  } catch {
    return sendRaw(reply, upstream);
  }
  const hitsObj = isObject(parsed) && isObject(parsed['hits']) ? parsed['hits'] : undefined;
  const hits = hitsObj && Array.isArray(hitsObj['hits']) ? (hitsObj['hits'] as EsHit[]) : undefined;
  if (!hitsObj || !hits || hits.length === 0) return sendRaw(reply, upstream);

  const candidates: Candidate[] = [];
  for (const hit of hits) {
    const passage = textFromSource(hit._source, plan.fields);
    if (typeof hit._id !== 'string' || typeof hit._score !== 'number' || passage === undefined) return sendRaw(reply, upstream);
    candidates.push({ id: hit._id, text: passage, score: hit._score });
  }
  const size = plan.size ?? hits.length;
  const firstStageMs = performance.now() - handlerStart;
  const started = performance.now();
  const outcome = await rerankWithDeadline(
    ctx.deps,
    { query: plan.query, candidates, fusion: plan.fusion, k: candidates.length, requestId: String(request.id) },
    ctx.deadlineMs,
  );
  const extra: Record<string, string> = {};
  let ordered: EsHit[];
  if (!outcome.result) {
    extra['x-dotrank-degraded'] = outcome.degradedReason ?? 'rerank_failed';
    ordered = hits.slice(0, size);
    for (const hit of ordered) hit['_bm25_score'] = hit._score;
  } else {
    const byId = new Map(hits.map((h) => [h._id as string, h]));
    ordered = [];
    for (const item of outcome.result.results) {
      const hit = byId.get(item.id);
      if (!hit) continue;
      byId.delete(item.id);
      hit['_bm25_score'] = hit._score;
      hit._score = item.score;
      ordered.push(hit);
    }
    ordered = ordered.slice(0, size);
  }
  hitsObj['hits'] = ordered;
  hitsObj['max_score'] = ordered.reduce<number | null>((m, h) => (typeof h._score === 'number' && (m === null || h._score > m) ? h._score : m), null);
  const t = outcome.result?.timings;
  ctx.metrics.recordSearch(
    {
      firstStage: firstStageMs,
      rerank: performance.now() - started,
      total: performance.now() - handlerStart,
      ...(t ? { encodeQuery: t.encodeQueryMs, cacheRead: t.cacheReadMs, encodeMisses: t.encodeMissesMs, score: t.scoreMs } : {}),
      ...(t?.queueWaitMs !== undefined ? { queueWait: t.queueWaitMs } : {}),
    },
    outcome.degradedReason,
    outcome.result?.cache,
  );
  const out = Buffer.from(JSON.stringify(parsed), 'utf8');
  const responseHeaders = { ...upstream.headers };
  delete responseHeaders['content-encoding'];
  return sendRaw(reply, { status: upstream.status, headers: responseHeaders, body: out }, { 'x-dotrank-reranked': outcome.result ? 'true' : 'false', ...extra });
}

function forwardHeaders(request: FastifyRequest): OutgoingHttpHeaders {
  const headers = stripHopByHop(request.headers);
  delete headers['x-api-key'];
  // `Authorization: ApiKey <our key>` authenticated against dotrank itself and is not the cluster's.
  if ((request as FastifyRequest & { dotrankAuthByAuthorization?: boolean }).dotrankAuthByAuthorization) delete headers['authorization'];
  return headers;
}

function readRaw(request: FastifyRequest, limit: number): Promise<Buffer> {
  const raw = request.raw;
  if (raw.readableEnded || raw.method === 'HEAD') return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    raw.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        raw.destroy();
        reject(Object.assign(new Error('body too large'), { code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 }));
        return;
      }
      chunks.push(c);
    });
    raw.on('end', () => resolve(Buffer.concat(chunks)));
    raw.on('error', reject);
  });
}

/**
 * The drop-in Elasticsearch proxy: `/:index/_search` (and `/_search`) reranked, `GET|HEAD /` (the client's product
 * check) passed through. Registered in its own encapsulated context so bodies stay raw bytes.
 */
export async function proxyPlugin(app: FastifyInstance, ctx: ProxyContext): Promise<void> {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  const search = (req: FastifyRequest, reply: FastifyReply) => handleProxy(ctx, req, reply, true);
  const other = (req: FastifyRequest, reply: FastifyReply) => handleProxy(ctx, req, reply, false);
  const hide = { schema: { hide: true } };
  app.route({ method: ['GET', 'POST'], url: '/:index/_search', handler: search, ...hide });
  app.route({ method: ['GET', 'POST'], url: '/_search', handler: search, ...hide });
  app.route({ method: ['GET', 'HEAD'], url: '/', handler: other, exposeHeadRoute: false, ...hide });
}
