// What the proxy may reach on the cluster: the indices of an allow-list (`DOTRANK_PROXY_INDICES`), through request
// targets it has normalised itself, with bodies that read no other index (terms lookup, more_like_this, percolate,
// indexed shapes). Every refusal is an Elasticsearch-shaped error, so Elasticsearch clients report it as they would
// report the cluster's own.

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Elasticsearch's error body: `{error: {type, reason, root_cause: [...]}, status}`. */
export interface EsErrorBody {
  error: { type: string; reason: string; root_cause: { type: string; reason: string }[] };
  status: number;
}

/** An error the proxy answers itself, in Elasticsearch's shape (`body()`), with its HTTP status. */
export class ProxyError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    readonly reason: string,
  ) {
    super(reason);
    this.name = 'ProxyError';
  }

  body(): EsErrorBody {
    return esError(this.status, this.type, this.reason);
  }
}

/** An Elasticsearch-shaped error body. */
export function esError(status: number, type: string, reason: string): EsErrorBody {
  return { error: { root_cause: [{ type, reason }], type, reason }, status };
}

const forbidden = (reason: string) => new ProxyError(403, 'security_exception', reason);
const badTarget = (reason: string) => new ProxyError(400, 'illegal_argument_exception', reason);

/** The indices the proxy serves; an index expression is allowed when it, or every name of its comma list, is listed. */
export class IndexScope {
  private readonly allowed: ReadonlySet<string>;

  constructor(indices: readonly string[]) {
    this.allowed = new Set(indices.map((i) => i.trim()).filter((i) => i !== ''));
  }

  get indices(): string[] {
    return [...this.allowed];
  }

  /** True when `expression` (a name, or a comma list of names) reads only listed indices. */
  allows(expression: string): boolean {
    if (this.allowed.has(expression)) return true;
    const names = expression.split(',');
    return names.length > 1 && names.every((name) => name !== '' && this.allowed.has(name));
  }

  /** Throws the 403 Elasticsearch would give for an index this proxy does not serve. */
  check(expression: string, where: string): void {
    if (this.allows(expression)) return;
    throw forbidden(
      `dotrank proxy: ${where} [${expression}] is not served by this proxy (DOTRANK_PROXY_INDICES: ${this.indices.join(', ') || 'none'})`,
    );
  }
}

/** A request target the proxy has checked: the index expression, the endpoint and the query string. */
export interface ProxyTargetPath {
  /** The index expression of the path, decoded (`cran`, `a,b`). */
  index: string;
  /** The endpoint after the index: `_search` or `_msearch`. */
  endpoint: '_search' | '_msearch';
  /** The query string, parsed. */
  params: URLSearchParams;
}

const ENCODED_DELIMITER = /%(2f|3f|23|5c|2e)/i;

/**
 * Reads a raw request target (`/cran/_search?q=x`) the proxy serves. Refuses absolute forms
 * (`http://host/cran/_search`), dot segments, encoded `/`, `?`, `#`, `\` and `.`, empty segments, and `/_search`
 * without an index (that is every index of the cluster), and a body given as the `source` parameter.
 */
export function readTarget(rawUrl: string): ProxyTargetPath {
  if (!rawUrl.startsWith('/') || rawUrl.startsWith('//'))
    throw badTarget(`dotrank proxy: the request target must be a path (got ${JSON.stringify(rawUrl.slice(0, 200))})`);
  const question = rawUrl.indexOf('?');
  const path = question === -1 ? rawUrl : rawUrl.slice(0, question);
  const query = question === -1 ? '' : rawUrl.slice(question + 1);
  if (path.includes('#') || query.includes('#')) throw badTarget('dotrank proxy: a fragment (#) in the request target');
  if (ENCODED_DELIMITER.test(path) || path.includes('\\'))
    throw badTarget(`dotrank proxy: encoded "/", "?", "#", "\\" or "." in the path ${JSON.stringify(path)}`);
  const segments = path.slice(1).split('/');
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..')
      throw badTarget(`dotrank proxy: empty or dot segment in the path ${JSON.stringify(path)}`);
  }
  const endpoint = segments.at(-1);
  if (endpoint !== '_search' && endpoint !== '_msearch')
    throw badTarget(`dotrank proxy: only /<index>/_search and /<index>/_msearch are proxied (got ${path})`);
  if (segments.length !== 2) {
    if (segments.length === 1 && endpoint === '_search')
      throw forbidden('dotrank proxy: /_search without an index searches every index; name the index');
    if (segments.length === 1) {
      if (new URLSearchParams(query).has('source'))
        throw badTarget('dotrank proxy: send the request body as the body, not as the source parameter');
      return { index: '', endpoint, params: new URLSearchParams(query) };
    }
    throw badTarget(`dotrank proxy: only /<index>/${endpoint} is proxied (got ${path})`);
  }
  const params = new URLSearchParams(query);
  // Elasticsearch also takes the body as `?source=` (with source_content_type): it would escape the body's checks
  if (params.has('source'))
    throw badTarget('dotrank proxy: send the request body as the body, not as the source parameter');
  let index: string;
  try {
    index = decodeURIComponent(segments[0]!);
  } catch {
    throw badTarget(`dotrank proxy: the index in ${JSON.stringify(path)} is not valid percent-encoding`);
  }
  return { index, endpoint, params };
}

/** The path to forward for a checked index expression and endpoint (each name re-encoded by the proxy). */
export function targetPath(index: string, endpoint: string, params?: URLSearchParams): string {
  const encoded = index
    .split(',')
    .map((name) => encodeURIComponent(name))
    .join(',');
  const query = params?.toString() ?? '';
  return `/${encoded}/${endpoint}${query === '' ? '' : `?${query}`}`;
}

/** Index expressions a body reads besides the target: terms lookups, more_like_this items, percolate, shapes. */
export function indicesReadByBody(body: unknown): string[] {
  const out: string[] = [];
  const add = (value: unknown) => {
    if (typeof value === 'string') out.push(value);
    else if (Array.isArray(value)) for (const v of value) add(v);
  };
  const visit = (node: unknown, depth: number): void => {
    if (depth > 64) throw badTarget('dotrank proxy: the request body is nested too deeply');
    if (Array.isArray(node)) {
      for (const child of node) visit(child, depth + 1);
      return;
    }
    if (!isObject(node)) return;
    for (const [key, value] of Object.entries(node)) {
      if (key === 'terms' && isObject(value)) {
        for (const lookup of Object.values(value)) if (isObject(lookup)) add(lookup['index']);
      } else if (key === 'more_like_this' && isObject(value)) {
        for (const side of ['like', 'unlike'] as const) {
          const items = value[side];
          for (const item of Array.isArray(items) ? items : [items]) if (isObject(item)) add(item['_index']);
        }
      } else if (key === 'percolate' && isObject(value)) {
        add(value['index']);
      } else if (key === 'indexed_shape' && isObject(value)) {
        add(value['index']);
      }
      visit(value, depth + 1);
    }
  };
  visit(body, 0);
  return out;
}

/** Throws a 403 when the body reads an index outside the scope. */
export function checkBodyScope(scope: IndexScope, body: unknown): void {
  for (const index of indicesReadByBody(body)) scope.check(index, 'an index read by the query');
}
