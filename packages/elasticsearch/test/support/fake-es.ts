// An in-memory Elasticsearch behind @elastic/elasticsearch-mock, for transport-level tests. It keeps documents per
// index, answers _bulk/_search/_count/create/exists/settings/refresh, and records every raw request (headers and
// body as sent on the wire). Its scoring is a simple tf-idf of its own, not BM25: enough to check matching,
// order by score, k, filters and replacement.
import MockModule from '@elastic/elasticsearch-mock';
import { errors } from '@elastic/elasticsearch';
import type { BaseConnection } from '@elastic/elasticsearch';

// The mock is CommonJS (`module.exports = ClientMock`) with an ES-style `export default` in its typings.
const Mock = ((MockModule as unknown as { default?: unknown }).default ??
  MockModule) as unknown as typeof MockModule.default;

export interface RecordedRequest {
  method: string;
  path: string;
  querystring: string;
  headers: Record<string, string>;
  body: string | undefined;
}

interface FakeIndex {
  definition: Record<string, unknown>;
  docs: Map<string, Record<string, unknown>>;
}

type Params = { method: string; path: string; body?: unknown; querystring?: Record<string, string> };
/** Returns a response to use instead of the fake's own, or undefined to fall through. */
export type Interceptor = (params: Params, call: number) => unknown;

export function responseError(
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): errors.ResponseError {
  return new errors.ResponseError({
    body,
    statusCode,
    headers,
    warnings: null,
    meta: {},
  } as unknown as ConstructorParameters<typeof errors.ResponseError>[0]);
}

const tokens = (text: string): string[] =>
  text
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean);

export function fieldValue(source: Record<string, unknown>, path: string): unknown {
  let value: unknown = source;
  for (const part of path.split('.')) {
    if (!value || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** Whether a stored document passes bool-filter clauses (term, terms, exists; anything else fails). */
export function passesFilters(doc: Record<string, unknown>, filters: Array<Record<string, unknown>>): boolean {
  return filters.every((clause) => {
    if ('term' in clause) {
      const [field, value] = Object.entries(clause['term'] as Record<string, unknown>)[0]!;
      return fieldValue(doc, field) === value;
    }
    if ('terms' in clause) {
      const [field, values] = Object.entries(clause['terms'] as Record<string, unknown[]>)[0]!;
      return values.includes(fieldValue(doc, field));
    }
    if ('exists' in clause) return fieldValue(doc, (clause['exists'] as { field: string }).field) !== undefined;
    return false;
  });
}

function pick(source: Record<string, unknown>, includes: string[] | undefined): Record<string, unknown> {
  if (!includes) return source;
  const out: Record<string, unknown> = {};
  for (const field of includes) if (field in source) out[field] = source[field];
  return out;
}

export class FakeElasticsearch {
  readonly mock = new Mock();
  readonly requests: RecordedRequest[] = [];
  readonly indices = new Map<string, FakeIndex>();
  private readonly interceptors = new Map<string, { fn: Interceptor; calls: number }>();

  constructor() {
    const route = (name: string, method: string | string[], path: string, handler: (p: Params) => unknown) => {
      this.mock.add({ method, path }, (params) => {
        const p = params as unknown as Params;
        const hook = this.interceptors.get(name);
        if (hook) {
          const answer = hook.fn(p, hook.calls++);
          if (answer !== undefined) return answer as Record<string, unknown>;
        }
        return handler(p) as Record<string, unknown>;
      });
    };
    route('exists', 'HEAD', '/:index', (p) => (this.indices.has(this.name(p)) ? '' : responseError(404, '')));
    route('create', 'PUT', '/:index', (p) => {
      const name = this.name(p);
      if (this.indices.has(name)) {
        return responseError(400, {
          error: { type: 'resource_already_exists_exception', reason: `index [${name}] already exists` },
          status: 400,
        });
      }
      this.indices.set(name, { definition: (p.body ?? {}) as Record<string, unknown>, docs: new Map() });
      return { acknowledged: true, shards_acknowledged: true, index: name };
    });
    route('delete', 'DELETE', '/:index', (p) =>
      this.indices.delete(this.name(p)) ? { acknowledged: true } : this.missing(p),
    );
    route('settings', 'GET', '/:index/_settings', (p) => {
      const index = this.indices.get(this.name(p));
      if (!index) return this.missing(p);
      const settings = (index.definition['settings'] ?? {}) as Record<string, unknown>;
      const flat: Record<string, string> = {};
      const walk = (prefix: string, value: unknown) => {
        if (value && typeof value === 'object')
          for (const [k, v] of Object.entries(value)) walk(prefix ? `${prefix}.${k}` : k, v);
        else flat[prefix.startsWith('index.') ? prefix : `index.${prefix}`] = String(value);
      };
      walk('', settings);
      return { [this.name(p)]: { settings: flat } };
    });
    route('refresh', ['POST', 'GET'], '/:index/_refresh', (p) =>
      this.indices.has(this.name(p)) ? { _shards: { total: 1, successful: 1, failed: 0 } } : this.missing(p),
    );
    route('count', ['POST', 'GET'], '/:index/_count', (p) => {
      const index = this.indices.get(this.name(p));
      return index ? { count: index.docs.size, _shards: { total: 1, successful: 1, failed: 0 } } : this.missing(p);
    });
    route('bulk', ['POST', 'PUT'], '/:index/_bulk', (p) => this.bulk(p));
    route('bulk', ['POST', 'PUT'], '/_bulk', (p) => this.bulk(p));
    route('search', ['POST', 'GET'], '/:index/_search', (p) => this.search(p));
  }

  /** Make route `name` (exists, create, delete, settings, refresh, count, bulk, search) answer with `fn` first. */
  intercept(name: string, fn: Interceptor): void {
    this.interceptors.set(name, { fn, calls: 0 });
  }

  /** A Connection class that records each raw request, then lets the mock answer it. */
  connection(): typeof BaseConnection {
    const Base = this.mock.getConnection();
    const requests = this.requests;
    class RecordingConnection extends Base {
      // The mock's connection has no close(); the client calls it on close().
      override async close(): Promise<void> {}
    }
    const original = Base.prototype.request;
    RecordingConnection.prototype.request = function (
      this: BaseConnection,
      params: Parameters<BaseConnection['request']>[0],
      options: Parameters<BaseConnection['request']>[1],
    ) {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(params.headers ?? {}))
        if (v !== undefined) headers[k.toLowerCase()] = String(v);
      requests.push({
        method: params.method,
        path: params.path,
        querystring: params.querystring ?? '',
        headers,
        body: params.body == null ? undefined : String(params.body),
      });
      return original.call(this, params, options);
    } as BaseConnection['request'];
    return RecordingConnection;
  }

  /** Recorded requests whose path ends with `suffix` (e.g. `/_bulk`). */
  sent(suffix: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path.endsWith(suffix));
  }

  private name(p: Params): string {
    return decodeURIComponent(p.path.split('/')[1] ?? '');
  }

  private missing(p: Params) {
    const name = this.name(p);
    return responseError(404, {
      error: {
        root_cause: [{ type: 'index_not_found_exception', reason: `no such index [${name}]` }],
        type: 'index_not_found_exception',
        reason: `no such index [${name}]`,
        index: name,
      },
      status: 404,
    });
  }

  private bulk(p: Params) {
    const pathIndex = p.path.startsWith('/_bulk') ? undefined : this.name(p);
    const lines = (p.body ?? []) as Array<Record<string, unknown>>;
    const items: unknown[] = [];
    for (let i = 0; i < lines.length; i += 2) {
      const action = lines[i] as { index?: { _id?: string; _index?: string } };
      const doc = lines[i + 1] as Record<string, unknown>;
      const name = action.index?._index ?? pathIndex ?? '';
      let index = this.indices.get(name);
      if (!index) {
        index = { definition: {}, docs: new Map() };
        this.indices.set(name, index);
      }
      const id = action.index?._id ?? `auto-${index.docs.size}`;
      const existed = index.docs.has(id);
      index.docs.set(id, doc);
      items.push({
        index: { _index: name, _id: id, status: existed ? 200 : 201, result: existed ? 'updated' : 'created' },
      });
    }
    return { took: 1, errors: false, items };
  }

  private search(p: Params) {
    const name = this.name(p);
    const index = this.indices.get(name);
    if (!index) return this.missing(p);
    const body = (p.body ?? {}) as {
      size?: number;
      query?: Record<string, unknown>;
      _source?: { includes?: string[] };
    };
    let textQuery = body.query ?? {};
    let filters: Array<Record<string, unknown>> = [];
    if ('bool' in textQuery) {
      const bool = textQuery['bool'] as {
        must?: Array<Record<string, unknown>>;
        filter?: Array<Record<string, unknown>>;
      };
      textQuery = bool.must?.[0] ?? {};
      filters = bool.filter ?? [];
    }
    let query = '';
    let operator = 'or';
    let fields: Array<{ field: string; boost: number }> = [];
    let combine: 'max' | 'sum' = 'max';
    if ('match' in textQuery) {
      const [field, spec] = Object.entries(
        textQuery['match'] as Record<string, { query: string; operator?: string }>,
      )[0]!;
      query = spec.query;
      operator = spec.operator ?? 'or';
      fields = [{ field, boost: 1 }];
    } else if ('multi_match' in textQuery) {
      const spec = textQuery['multi_match'] as { query: string; fields: string[]; operator?: string; type?: string };
      query = spec.query;
      operator = spec.operator ?? 'or';
      combine = spec.type === 'most_fields' ? 'sum' : 'max';
      fields = spec.fields.map((f) => {
        const [field, boost] = f.split('^');
        return { field: field!, boost: boost ? Number(boost) : 1 };
      });
    } else {
      return responseError(400, {
        error: { type: 'parsing_exception', reason: 'unsupported query in fake' },
        status: 400,
      });
    }
    const terms = [...new Set(tokens(query))];
    const docs = [...index.docs.entries()];
    const df = new Map<string, number>();
    for (const t of terms) {
      df.set(
        t,
        docs.filter(([, d]) => fields.some((f) => tokens(String(fieldValue(d, f.field) ?? '')).includes(t))).length,
      );
    }
    const hits: Array<{ _index: string; _id: string; _score: number; _source: Record<string, unknown> }> = [];
    for (const [id, doc] of docs) {
      if (!passesFilters(doc, filters)) continue;
      const perField = fields.map(({ field, boost }) => {
        const words = tokens(String(fieldValue(doc, field) ?? ''));
        let score = 0;
        for (const t of terms) {
          const tf = words.filter((w) => w === t).length;
          if (tf > 0) score += boost * Math.log(1 + docs.length / df.get(t)!) * (tf / (tf + 1));
        }
        return score;
      });
      const matched = terms.filter((t) =>
        fields.some((f) => tokens(String(fieldValue(doc, f.field) ?? '')).includes(t)),
      );
      if (matched.length === 0 || (operator === 'and' && matched.length < terms.length)) continue;
      const score = combine === 'max' ? Math.max(...perField) : perField.reduce((a, b) => a + b, 0);
      hits.push({ _index: name, _id: id, _score: score, _source: pick(doc, body._source?.includes) });
    }
    hits.sort((a, b) => b._score - a._score || a._id.localeCompare(b._id));
    const top = hits.slice(0, body.size ?? 10);
    return {
      took: 1,
      timed_out: false,
      _shards: { total: 1, successful: 1, skipped: 0, failed: 0 },
      hits: { max_score: top[0]?._score ?? null, hits: top },
    };
  }
}
