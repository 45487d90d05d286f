// A stand-in Elasticsearch for tests: a small node:http server that answers `/`, `_search`, `_msearch`, `_count`,
// `_mapping`, index existence/creation/settings, `_bulk` and `_refresh` in Elasticsearch's response and error shapes,
// over the embedded BM25 engine, and records every request it receives (method, raw target, headers, body) so a test
// can assert what reached "the cluster". The official client's product check passes (`x-elastic-product`).
//
// It is not Elasticsearch: one shard per index, the query DSL subset of `StandInIndex.evaluate`, `term`/`range`
// queries score a constant, `match_phrase` checks word order with a rough tokenizer, and aggregations, scroll, PIT
// and search_after answer 400 saying they are not supported here.
import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync, inflateSync, brotliDecompressSync } from 'node:zlib';
import { StandInError, StandInIndex, globMatcher, parsingError, valuesAt } from './stand-in-index.js';
import type { StandInDocument, StandInIndexDefinition } from './stand-in-index.js';

export { StandInError, StandInIndex } from './stand-in-index.js';
export type { StandInDocument, StandInIndexDefinition } from './stand-in-index.js';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/** One request as the stand-in received it. */
export interface ReceivedRequest {
  method: string;
  /** The request target exactly as sent (path and query string, still percent-encoded). */
  path: string;
  headers: IncomingHttpHeaders;
  /** The body as text (decompressed when it came with a content-encoding). */
  body: string;
}

/** An index to create at start: its documents (any `_source` shape) and optional explicit mapping/settings. */
export interface StandInIndexInput extends StandInIndexDefinition {
  documents?: StandInDocument[];
}

export interface StandInOptions {
  /** Indices to create, by name. */
  indices?: Record<string, StandInIndexInput>;
  /** Serve https with this key and certificate chain (PEM) instead of http. */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** Version number `GET /` reports (default 8.19.2). */
  version?: string;
  /** When set, every request must carry exactly this `Authorization` header (401 `security_exception` otherwise). */
  authorization?: string;
  /**
   * Called for each request before the stand-in answers it; return a response to send instead (e.g. a 503, a slow
   * answer) or undefined to let the stand-in answer.
   */
  intercept?: (
    request: ReceivedRequest,
  ) =>
    | { status: number; body?: unknown; headers?: Record<string, string>; delayMs?: number }
    | undefined
    | Promise<{ status: number; body?: unknown; headers?: Record<string, string>; delayMs?: number } | undefined>;
}

/** The running stand-in: its URL, what it received, and its indices. */
export interface StandInElasticsearch {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  readonly url: string;
  /** Every request received, in order. */
  readonly requests: ReceivedRequest[];
  readonly indices: Map<string, StandInIndex>;
  /** Creates (or replaces) an index with these documents. */
  createIndex(name: string, input?: StandInIndexInput): StandInIndex;
  /** Adds documents to an index (creating it when missing); returns their ids. */
  addDocuments(name: string, documents: StandInDocument[]): string[];
  /** Requests whose path (without the query string) matches, e.g. `/library/_search`. */
  requestsTo(path: string | RegExp): ReceivedRequest[];
  clearRequests(): void;
  close(): Promise<void>;
}

const MAX_RESULT_WINDOW = 10_000;
const TRACK_TOTAL_HITS_DEFAULT = 10_000;
const SEARCH_BODY_KEYS = new Set([
  'query',
  'from',
  'size',
  '_source',
  'track_total_hits',
  'sort',
  'min_score',
  'retriever',
  'post_filter',
  'timeout',
  'track_scores',
  'explain',
  'version',
  'seq_no_primary_term',
  'stored_fields',
  'docvalue_fields',
  'fields',
  'highlight',
  'profile',
  'stats',
  'terminate_after',
  'indices_boost',
  'runtime_mappings',
  'ext',
]);
const UNSUPPORTED_BODY_KEYS = new Set([
  'aggs',
  'aggregations',
  'search_after',
  'pit',
  'collapse',
  'rescore',
  'knn',
  'suggest',
]);

type Answer = [status: number, body: unknown];
type Hit = { index: StandInIndex; id: string; score: number; order: number };

/** The cluster state and request handling behind the HTTP server. */
class StandInCluster {
  readonly indices = new Map<string, StandInIndex>();
  readonly requests: ReceivedRequest[] = [];

  constructor(private readonly options: StandInOptions) {
    for (const [name, input] of Object.entries(options.indices ?? {})) this.createIndex(name, input);
  }

  createIndex(name: string, input: StandInIndexInput = {}): StandInIndex {
    const index = new StandInIndex(name, {
      ...(input.mappings ? { mappings: input.mappings } : {}),
      ...(input.settings ? { settings: input.settings } : {}),
    });
    for (const doc of input.documents ?? []) index.put(doc);
    this.indices.set(name, index);
    return index;
  }

  /** Records one request and answers it (interceptor first, then credentials, then the route). */
  async answer(req: IncomingMessage, raw: Buffer, res: ServerResponse): Promise<void> {
    let body: string;
    try {
      body = decompress(raw, String(req.headers['content-encoding'] ?? '')).toString('utf8');
    } catch {
      body = raw.toString('latin1');
    }
    const received: ReceivedRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body };
    this.requests.push(received);
    const send = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      const text = req.method === 'HEAD' || payload === undefined ? '' : JSON.stringify(payload);
      res.writeHead(status, {
        'x-elastic-product': 'Elasticsearch',
        'content-type': contentType(req.headers['accept']),
        ...headers,
      });
      res.end(text);
    };
    try {
      const intercepted = await this.options.intercept?.(received);
      if (intercepted) {
        if (intercepted.delayMs) await new Promise((r) => setTimeout(r, intercepted.delayMs));
        if (!res.destroyed) send(intercepted.status, intercepted.body, intercepted.headers);
        return;
      }
      const wanted = this.options.authorization;
      if (wanted !== undefined && req.headers['authorization'] !== wanted) {
        throw new StandInError(401, 'security_exception', 'missing authentication credentials for REST request');
      }
      const [status, payload] = this.route(req.method ?? 'GET', req.url ?? '/', body);
      send(status, payload);
    } catch (error) {
      if (error instanceof StandInError) return send(error.status, error.body());
      const reason = error instanceof Error ? error.message : String(error);
      send(500, new StandInError(500, 'exception', reason).body());
    }
  }

  private route(method: string, target: string, body: string): Answer {
    const url = new URL(target, 'http://stand-in');
    const params = url.searchParams;
    const segments = url.pathname
      .split('/')
      .filter(Boolean)
      .map((s) => decodeURIComponent(s));
    const [first, second, third] = segments;
    if (segments.length === 0 && (method === 'GET' || method === 'HEAD')) return [200, info(this.options.version)];
    if (segments.length === 1 && first?.startsWith('_') && first !== '_all') {
      const answer = this.endpoint(first, '_all', undefined, body, params);
      if (answer) return answer;
    }
    if (first !== undefined && (first === '_all' || !first.startsWith('_'))) {
      if (segments.length === 1) return this.indexAdmin(method, first, body, params);
      if (segments.length === 2 && second !== undefined) {
        const answer = this.endpoint(second, first, first, body, params);
        if (answer) return answer;
      }
      if (segments.length === 3 && second === '_doc' && third !== undefined)
        return this.doc(method, first, third, body);
    }
    throw new StandInError(
      400,
      'illegal_argument_exception',
      `no handler found for uri [${url.pathname}] and method [${method}]`,
    );
  }

  /** `_search`, `_msearch`, `_count`, `_mapping`, `_settings`, `_bulk`, `_refresh` on an index expression. */
  private endpoint(
    name: string,
    expression: string,
    named: string | undefined,
    body: string,
    params: URLSearchParams,
  ): Answer | undefined {
    switch (name) {
      case '_search':
        return [200, this.search(this.resolve(expression, params), parseJson(body), params)];
      case '_msearch':
        return [200, this.msearch(named, body, params)];
      case '_count':
        return [200, this.count(this.resolve(expression, params), parseJson(body), params)];
      case '_mapping':
        return [200, mappings(this.resolve(expression, params))];
      case '_settings':
        return [200, settings(this.resolve(expression, params), params)];
      case '_bulk':
        return [200, this.bulk(named, body)];
      case '_refresh':
        this.resolve(expression, params);
        return [200, { _shards: { total: 1, successful: 1, failed: 0 } }];
      default:
        return undefined;
    }
  }

  /** Concrete indices of an index expression: names, comma lists, `*` patterns, `_all`. */
  resolve(expression: string, params: URLSearchParams): StandInIndex[] {
    const out: StandInIndex[] = [];
    const ignoreUnavailable = params.get('ignore_unavailable') === 'true';
    for (const part of expression.split(',')) {
      if (part === '_all' || part.includes('*')) {
        const matches = globMatcher(part === '_all' ? '*' : part);
        for (const [name, index] of this.indices)
          if (matches(name) && !name.startsWith('.') && !out.includes(index)) out.push(index);
        continue;
      }
      const index = this.indices.get(part);
      if (index) {
        if (!out.includes(index)) out.push(index);
      } else if (!ignoreUnavailable) throw missingIndex(part);
    }
    return out;
  }

  private indexAdmin(method: string, name: string, body: string, params: URLSearchParams): Answer {
    if (method === 'HEAD') return [this.indices.has(name) ? 200 : 404, undefined];
    if (method === 'PUT') {
      if (this.indices.has(name))
        throw new StandInError(400, 'resource_already_exists_exception', `index [${name}/standin] already exists`, {
          index: name,
        });
      const definition = parseJson(body);
      const mappings = definition['mappings'];
      this.createIndex(name, {
        ...(isObject(mappings) ? { mappings: mappings as StandInIndexDefinition['mappings'] } : {}),
        ...(isObject(definition['settings']) ? { settings: definition['settings'] } : {}),
      });
      return [200, { acknowledged: true, shards_acknowledged: true, index: name }];
    }
    if (method === 'DELETE') {
      for (const index of this.resolve(name, params)) this.indices.delete(index.name);
      return [200, { acknowledged: true }];
    }
    if (method === 'GET') {
      const out: Json = {};
      for (const index of this.resolve(name, params))
        out[index.name] = { aliases: {}, mappings: { properties: index.mapping() }, settings: settingsOf(index) };
      return [200, out];
    }
    throw new StandInError(405, 'method_not_allowed', `method [${method}] not allowed for [/${name}]`);
  }

  private doc(method: string, name: string, id: string, body: string): Answer {
    if (method === 'PUT' || method === 'POST') {
      const index = this.indices.get(name) ?? this.createIndex(name);
      const created = !index.docs.has(id);
      index.put({ _id: id, _source: parseJson(body) });
      return [created ? 201 : 200, { _index: name, _id: id, result: created ? 'created' : 'updated' }];
    }
    const index = this.indices.get(name);
    if (!index) throw missingIndex(name);
    const source = index.docs.get(id);
    if (method === 'DELETE') {
      index.remove(id);
      return [source ? 200 : 404, { _index: name, _id: id, result: source ? 'deleted' : 'not_found' }];
    }
    return [
      source ? 200 : 404,
      { _index: name, _id: id, found: source !== undefined, ...(source ? { _source: source } : {}) },
    ];
  }

  private bulk(defaultIndex: string | undefined, body: string): Json {
    const lines = body.split('\n').filter((l) => l.trim() !== '');
    const items: Json[] = [];
    let errors = false;
    for (let i = 0; i < lines.length; i++) {
      const [op, meta] = Object.entries(parseJson(lines[i]!))[0] ?? [];
      if (!op || !isObject(meta)) throw parsingError(`Malformed action/metadata line [${i + 1}]`);
      const name = typeof meta['_index'] === 'string' ? meta['_index'] : defaultIndex;
      if (!name)
        throw new StandInError(400, 'action_request_validation_exception', 'Validation Failed: 1: index is missing;');
      const index = this.indices.get(name) ?? this.createIndex(name);
      let id = typeof meta['_id'] === 'string' ? meta['_id'] : undefined;
      if (op === 'delete') {
        const found = id !== undefined && index.remove(id);
        items.push({
          delete: { _index: name, _id: id, status: found ? 200 : 404, result: found ? 'deleted' : 'not_found' },
        });
        continue;
      }
      const source = parseJson(lines[++i] ?? '');
      const existed = id !== undefined && index.docs.has(id);
      if (op === 'create' && existed) {
        errors = true;
        const error = {
          type: 'version_conflict_engine_exception',
          reason: `[${id}]: version conflict, document already exists`,
        };
        items.push({ create: { _index: name, _id: id, status: 409, error } });
        continue;
      }
      id = index.put({ ...(id !== undefined ? { _id: id } : {}), _source: source });
      items.push({
        [op]: { _index: name, _id: id, status: existed ? 200 : 201, result: existed ? 'updated' : 'created' },
      });
    }
    return { took: 1, errors, items };
  }

  private count(list: StandInIndex[], body: Json, params: URLSearchParams): Json {
    for (const key of Object.keys(body)) if (key !== 'query') throw parsingError(`request does not support [${key}]`);
    const query = queryOf(body, params);
    let total = 0;
    for (const index of list) total += index.evaluate(query).size;
    return { count: total, _shards: { total: list.length, successful: list.length, skipped: 0, failed: 0 } };
  }

  private msearch(defaultIndex: string | undefined, body: string, params: URLSearchParams): Json {
    const lines = body.split('\n').filter((l) => l.trim() !== '');
    if (lines.length % 2 !== 0)
      throw new StandInError(
        400,
        'illegal_argument_exception',
        'The msearch request must be terminated by a newline [\\n]',
      );
    const responses: Json[] = [];
    for (let i = 0; i < lines.length; i += 2) {
      try {
        const header = parseJson(lines[i]!);
        const value = header['index'];
        const expression = Array.isArray(value)
          ? value.join(',')
          : typeof value === 'string'
            ? value
            : (defaultIndex ?? '_all');
        const response = this.search(this.resolve(expression, params), parseJson(lines[i + 1]!), new URLSearchParams());
        responses.push({ ...response, status: 200 });
      } catch (error) {
        if (!(error instanceof StandInError)) throw error;
        responses.push(error.body());
      }
    }
    return { took: 1, responses };
  }

  private search(list: StandInIndex[], body: Json, params: URLSearchParams): Json {
    const started = process.hrtime.bigint();
    const request = searchRequest(body, params);
    const hits: Hit[] = [];
    let order = 0;
    for (const index of list) {
      const scores = index.evaluate(request.query);
      const filtered = request.postFilter === undefined ? undefined : index.evaluate(request.postFilter);
      for (const [id, score] of scores) {
        if (filtered && !filtered.has(id)) continue;
        if (request.minScore !== undefined && score < request.minScore) continue;
        hits.push({ index, id, score, order: order++ });
      }
    }
    sortHits(hits, request.sort);
    const took = Number((process.hrtime.bigint() - started) / 1_000_000n);
    return {
      took,
      timed_out: false,
      _shards: { total: list.length, successful: list.length, skipped: 0, failed: 0 },
      hits: hitsSection(hits, request, body, params),
    };
  }
}

interface SearchRequest {
  query: unknown;
  postFilter: unknown;
  from: number;
  size: number;
  minScore: number | undefined;
  sort: SortKey[] | undefined;
}

/** Reads a search body and its URL parameters; what the stand-in cannot do is a 400 saying so. */
function searchRequest(body: Json, params: URLSearchParams): SearchRequest {
  for (const key of Object.keys(body)) {
    if (UNSUPPORTED_BODY_KEYS.has(key)) throw notSupported(key);
    if (!SEARCH_BODY_KEYS.has(key)) throw parsingError(`Unknown key for a ${tokenKind(body[key])} in [${key}].`);
  }
  for (const name of ['scroll', 'search_after', 'pit']) if (params.has(name)) throw notSupported(name);
  let query = queryOf(body, params);
  let postFilter = body['post_filter'];
  if (body['retriever'] !== undefined) {
    if (body['query'] !== undefined)
      throw new StandInError(400, 'illegal_argument_exception', 'cannot specify [retriever] and [query]');
    const retriever = body['retriever'];
    if (!isObject(retriever) || !isObject(retriever['standard'])) throw notSupported('retrievers other than standard');
    query = retriever['standard']['query'];
    if (retriever['standard']['filter'] !== undefined) postFilter = retriever['standard']['filter'];
  }
  const from = intParam('from', params.get('from') ?? body['from'], 0);
  const size = intParam('size', params.get('size') ?? body['size'], 10);
  if (from + size > MAX_RESULT_WINDOW)
    throw new StandInError(
      400,
      'illegal_argument_exception',
      `Result window is too large, from + size must be less than or equal to: [${MAX_RESULT_WINDOW}] but was [${from + size}].`,
    );
  return {
    query,
    postFilter,
    from,
    size,
    minScore: typeof body['min_score'] === 'number' ? body['min_score'] : undefined,
    sort: sortSpec(body['sort'] ?? params.get('sort') ?? undefined),
  };
}

function sortValue(hit: Hit, field: string): unknown {
  if (field === '_score') return hit.score;
  if (field === '_doc') return hit.order;
  return hit.index.values(hit.index.docs.get(hit.id)!, field)[0] ?? null;
}

function sortHits(hits: Hit[], sort: SortKey[] | undefined): void {
  if (!sort) {
    hits.sort((a, b) => b.score - a.score || a.order - b.order);
    return;
  }
  hits.sort((a, b) => {
    for (const key of sort) {
      const c = compare(sortValue(a, key.field), sortValue(b, key.field)) * (key.desc ? -1 : 1);
      if (c !== 0) return c;
    }
    return a.order - b.order;
  });
}

/** `hits`: total (as track_total_hits asks), max_score, and the page with `_source` filtered. */
function hitsSection(hits: Hit[], request: SearchRequest, body: Json, params: URLSearchParams): Json {
  const { sort } = request;
  const sourceFilter = sourceFilterOf(body['_source'], params);
  const scored = !sort || sort.some((k) => k.field === '_score') || body['track_scores'] === true;
  const track = body['track_total_hits'] ?? params.get('track_total_hits') ?? TRACK_TOTAL_HITS_DEFAULT;
  const out: Json = {};
  if (track !== false && track !== 'false') {
    const limit = track === true || track === 'true' ? Infinity : Number(track);
    out['total'] = hits.length > limit ? { value: limit, relation: 'gte' } : { value: hits.length, relation: 'eq' };
  }
  out['max_score'] = scored && hits.length > 0 ? Math.max(...hits.map((h) => h.score)) : null;
  out['hits'] = hits.slice(request.from, request.from + request.size).map((h) => {
    const hit: Json = { _index: h.index.name, _id: h.id, _score: scored ? h.score : null };
    const source = sourceFilter(h.index.docs.get(h.id)!);
    if (source !== undefined) hit['_source'] = source;
    if (sort) hit['sort'] = sort.map((k) => sortValue(h, k.field));
    return hit;
  });
  return out;
}

function settings(list: StandInIndex[], params: URLSearchParams): Json {
  const out: Json = {};
  const flat = params.get('flat_settings') === 'true';
  for (const index of list) {
    const nested = settingsOf(index);
    out[index.name] = { settings: flat ? flatten(nested) : nested };
  }
  return out;
}

function mappings(list: StandInIndex[]): Json {
  const out: Json = {};
  for (const index of list) out[index.name] = { mappings: { properties: index.mapping() } };
  return out;
}

const notSupported = (what: string) =>
  new StandInError(400, 'parsing_exception', `[${what}] is not supported by the dotrank stand-in server`);

/** Starts a stand-in Elasticsearch on 127.0.0.1 at a free port. */
export async function startStandInElasticsearch(options: StandInOptions = {}): Promise<StandInElasticsearch> {
  const cluster = new StandInCluster(options);
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => void cluster.answer(req, Buffer.concat(chunks), res));
  };
  const server: Server = options.tls ? createHttpsServer(options.tls, handle) : createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { requests, indices } = cluster;
  return {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    indices,
    createIndex: (name, input) => cluster.createIndex(name, input),
    addDocuments(name, documents) {
      const index = indices.get(name) ?? cluster.createIndex(name);
      return documents.map((d) => index.put(d));
    },
    requestsTo(path) {
      return requests.filter((r) => {
        const pathname = r.path.split('?')[0]!;
        return typeof path === 'string' ? pathname === path : path.test(pathname);
      });
    },
    clearRequests() {
      requests.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function info(version = '8.19.2'): Json {
  return {
    name: 'dotrank-stand-in',
    cluster_name: 'dotrank-stand-in',
    cluster_uuid: 'c3RhbmQtaW4tY2x1c3Rlcg',
    version: {
      number: version,
      build_flavor: 'default',
      build_type: 'stand-in',
      lucene_version: '9.12.0',
      minimum_wire_compatibility_version: '7.17.0',
      minimum_index_compatibility_version: '7.0.0',
    },
    tagline: 'You Know, for Search',
  };
}

function settingsOf(index: StandInIndex): Json {
  const given = isObject(index.definition.settings) ? index.definition.settings : {};
  const inner = isObject(given['index']) ? given['index'] : given;
  return {
    index: { number_of_shards: '1', number_of_replicas: '0', provided_name: index.name, ...stringLeaves(inner) },
  };
}

function stringLeaves(value: Json): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(value)) out[k] = isObject(v) ? stringLeaves(v) : String(v);
  return out;
}

function flatten(value: Json, prefix = ''): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(value)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (isObject(v)) Object.assign(out, flatten(v, key));
    else out[key] = v;
  }
  return out;
}

function contentType(accept: string | undefined): string {
  return accept?.includes('vnd.elasticsearch+json')
    ? 'application/vnd.elasticsearch+json;compatible-with=8'
    : 'application/json';
}

function decompress(body: Buffer, encoding: string): Buffer {
  const e = encoding.trim().toLowerCase();
  if (e === 'gzip' || e === 'x-gzip') return gunzipSync(body);
  if (e === 'deflate') return inflateSync(body);
  if (e === 'br') return brotliDecompressSync(body);
  return body;
}

function missingIndex(name: string): StandInError {
  return new StandInError(404, 'index_not_found_exception', `no such index [${name}]`, {
    'resource.type': 'index_or_alias',
    'resource.id': name,
    index_uuid: '_na_',
    index: name,
  });
}

function parseJson(text: string): Json {
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new StandInError(
      400,
      'x_content_parse_exception',
      `Failed to parse request body: ${(error as Error).message}`,
    );
  }
  if (!isObject(parsed)) throw new StandInError(400, 'parse_exception', 'request body must be a JSON object');
  return parsed;
}

function tokenKind(value: unknown): string {
  if (isObject(value)) return 'START_OBJECT';
  if (Array.isArray(value)) return 'START_ARRAY';
  if (typeof value === 'number') return 'VALUE_NUMBER';
  if (typeof value === 'boolean') return 'VALUE_BOOLEAN';
  if (value === null) return 'VALUE_NULL';
  return 'VALUE_STRING';
}

function intParam(name: string, value: unknown, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new StandInError(
      400,
      'illegal_argument_exception',
      `[${name}] parameter cannot be negative or a fraction, found [${String(value)}]`,
    );
  return n;
}

/** The query of a body, or of the `q` parameter (a query_string over every field). */
function queryOf(body: Json, params: URLSearchParams): unknown {
  const q = params.get('q');
  if (q !== null) {
    const df = params.get('df');
    return { query_string: { query: q, ...(df ? { default_field: df } : {}) } };
  }
  return body['query'];
}

interface SortKey {
  field: string;
  desc: boolean;
}

function sortSpec(sort: unknown): SortKey[] | undefined {
  if (sort === undefined) return undefined;
  const list = Array.isArray(sort) ? sort : typeof sort === 'string' ? sort.split(',') : [sort];
  return list.map((entry) => {
    if (typeof entry === 'string') {
      const [field, order] = entry.split(':');
      return { field: field!, desc: order ? order === 'desc' : field === '_score' };
    }
    if (isObject(entry)) {
      const [field, spec] = Object.entries(entry)[0] ?? [];
      if (!field) throw parsingError('[sort] malformed');
      const order = isObject(spec) ? spec['order'] : spec;
      return { field, desc: order === undefined ? field === '_score' : order === 'desc' };
    }
    throw parsingError('[sort] malformed');
  });
}

function compare(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === undefined || a === null) return 1;
  if (b === undefined || b === null) return -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a) < String(b) ? -1 : 1;
}

/** `_source` filtering as Elasticsearch does it: false, a pattern or list of patterns, or {includes, excludes}. */
function sourceFilterOf(spec: unknown, params: URLSearchParams): (source: Json) => Json | undefined {
  let includes: string[] = [];
  let excludes: string[] = [];
  const list = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : typeof v === 'string' ? v.split(',') : []);
  const param = params.get('_source');
  if (param === 'false' || spec === false) return () => undefined;
  if (param !== null && param !== 'true') includes = list(param);
  else if (typeof spec === 'string' || Array.isArray(spec)) includes = list(spec);
  else if (isObject(spec)) {
    includes = list(spec['includes'] ?? spec['include']);
    excludes = list(spec['excludes'] ?? spec['exclude']);
  }
  if (params.has('_source_includes')) includes = list(params.get('_source_includes'));
  if (params.has('_source_excludes')) excludes = list(params.get('_source_excludes'));
  if (includes.length === 0 && excludes.length === 0) return (source) => source;
  const inc = includes.map(globMatcher);
  const exc = excludes.map(globMatcher);
  const below = (path: string) => includes.some((p) => p.startsWith(`${path}.`) || p.includes('*'));
  const filter = (value: unknown, path: string, included: boolean): unknown => {
    if (Array.isArray(value)) {
      const items = value.map((v) => filter(v, path, included)).filter((v) => v !== undefined);
      return items.length > 0 || included ? items : undefined;
    }
    if (isObject(value)) {
      const out: Json = {};
      for (const [key, child] of Object.entries(value)) {
        const full = path ? `${path}.${key}` : key;
        if (exc.some((m) => m(full))) continue;
        const inside = included || includes.length === 0 || inc.some((m) => m(full));
        if (!inside && !below(full)) continue;
        const kept = filter(child, full, inside);
        if (kept !== undefined) out[key] = kept;
      }
      return Object.keys(out).length > 0 || included ? out : undefined;
    }
    return included ? value : undefined;
  };
  return (source) => (filter(source, '', includes.length === 0) as Json | undefined) ?? {};
}

// re-exported for tests that build expectations from the same reading of a `_source`
export { valuesAt };
