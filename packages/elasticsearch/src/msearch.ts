// `_msearch` bodies: NDJSON pairs of a header line (index and search parameters) and a search body, read into
// searches the proxy runs one by one, and the `responses` written back in Elasticsearch's shape.
import { ProxyError } from './scope.js';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Header parameters that become query-string parameters of the single search. */
const HEADER_PARAMS = [
  'routing',
  'preference',
  'request_cache',
  'search_type',
  'allow_no_indices',
  'ignore_unavailable',
  'expand_wildcards',
  'allow_partial_search_results',
  'ccs_minimize_roundtrips',
] as const;

/** One search of an `_msearch`. */
export interface MsearchItem {
  /** Index expression of the header, else of the path. */
  index: string;
  /** Query-string parameters of the single search (from the URL, then the header). */
  params: URLSearchParams;
  body: Json;
}

const parseError = (reason: string) => new ProxyError(400, 'illegal_argument_exception', reason);

/** A header's `index` (a string or a list of names) as one expression, else the path's. */
function headerIndex(header: Json, pathIndex: string, line: number): string {
  const index = header['index'];
  if (index === undefined) {
    if (pathIndex === '') throw parseError(`_msearch line ${line}: the header names no index and the path none either`);
    return pathIndex;
  }
  if (typeof index === 'string' && index !== '') return index;
  if (Array.isArray(index) && index.length > 0 && index.every((i) => typeof i === 'string' && i !== ''))
    return index.join(',');
  throw parseError(`_msearch line ${line}: header.index must be an index name or a list of names`);
}

/**
 * The searches of an `_msearch` NDJSON body; a line that is not a JSON object, or a header without a body, is a 400
 * naming the line (as Elasticsearch refuses the whole request).
 */
export function readMsearch(body: Buffer, pathIndex: string, urlParams: URLSearchParams): MsearchItem[] {
  const lines = body.toString('utf8').split('\n');
  const items: MsearchItem[] = [];
  let i = 0;
  const next = (): { value: Json; line: number } | undefined => {
    while (i < lines.length && lines[i]!.trim() === '') i++;
    if (i >= lines.length) return undefined;
    const line = i + 1;
    let value: unknown;
    try {
      value = JSON.parse(lines[i++]!);
    } catch {
      throw parseError(`_msearch line ${line}: not JSON`);
    }
    if (!isObject(value)) throw parseError(`_msearch line ${line}: must be a JSON object`);
    return { value, line };
  };
  for (;;) {
    const header = next();
    if (!header) break;
    const search = next();
    if (!search) throw parseError(`_msearch line ${header.line}: a header without a search body`);
    const params = new URLSearchParams(urlParams);
    for (const name of HEADER_PARAMS) {
      const value = header.value[name];
      if (value !== undefined) params.set(name, Array.isArray(value) ? value.join(',') : String(value));
    }
    items.push({ index: headerIndex(header.value, pathIndex, header.line), params, body: search.value });
  }
  if (items.length === 0) throw parseError('_msearch: the body holds no search');
  for (const item of items) item.params.delete('max_concurrent_searches');
  return items;
}
