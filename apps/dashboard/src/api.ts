// The dashboard's only way to the service: same-origin HTTP calls to the search API, each response
// normalised into the shapes of types.ts (tolerant of field spellings, strict about types).
import type {
  BestPassage,
  EvalSummary,
  LatencyPercentiles,
  LiveStats,
  MetricsReport,
  RunRow,
  SearchHit,
  SearchResponse,
  Significance,
  SystemReport,
} from './types.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

type Json = unknown;
type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number | null => {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return null;
};
const str = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
const pick = (o: Obj, ...keys: string[]): unknown => {
  for (const k of keys) if (o[k] !== undefined) return o[k];
  return undefined;
};

/** Where the API key the user typed is kept: this tab's session only (gone when the tab closes). */
export const API_KEY_STORAGE = 'dotrank.apiKey';

function storedApiKey(): string | null {
  try {
    return sessionStorage.getItem(API_KEY_STORAGE);
  } catch {
    return null; // storage disabled: the key is asked for again
  }
}

function storeApiKey(key: string | null): void {
  try {
    if (key === null) sessionStorage.removeItem(API_KEY_STORAGE);
    else sessionStorage.setItem(API_KEY_STORAGE, key);
  } catch {
    // storage disabled: nothing to keep
  }
}

/** The API asked for a key: `answer` it with the key the user typed, or null when they give up. */
export interface ApiKeyRequest {
  /** The key sent last was refused (not merely missing). */
  refused: boolean;
  answer(key: string | null): void;
}
let pendingKeyRequest: ApiKeyRequest | undefined;
/** The question being asked: every request that meets a 401 meanwhile waits for the same answer. */
let asking: Promise<string | null> | undefined;
const keyRequestListeners = new Set<(request: ApiKeyRequest | undefined) => void>();

/** Calls `listener` with the pending key request (or undefined) now and whenever it changes; returns the unsubscribe. */
export function onApiKeyRequest(listener: (request: ApiKeyRequest | undefined) => void): () => void {
  keyRequestListeners.add(listener);
  listener(pendingKeyRequest);
  return () => void keyRequestListeners.delete(listener);
}

function askForKey(refused: boolean): Promise<string | null> {
  asking ??= new Promise<string | null>((resolve) => {
    pendingKeyRequest = {
      refused,
      answer(key) {
        pendingKeyRequest = undefined;
        asking = undefined;
        for (const l of keyRequestListeners) l(undefined);
        resolve(key && key.trim() !== '' ? key.trim() : null);
      },
    };
    for (const l of keyRequestListeners) l(pendingKeyRequest);
  });
  return asking;
}

/** A key for a request that got 401 with `sentKey`: a newer one another request already got, or the user's answer. */
async function keyAfter401(sentKey: string | null): Promise<string | null> {
  const current = storedApiKey();
  if (current !== null && current !== sentKey) return current;
  if (sentKey !== null) storeApiKey(null);
  const key = await askForKey(sentKey !== null);
  if (key) storeApiKey(key);
  return key;
}

async function fetchWithKey(path: string, init: RequestInit | undefined, key: string | null): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json', ...(init?.headers as Record<string, string>) };
  if (key) headers['x-api-key'] = key;
  try {
    return await fetch(path, { ...init, headers });
  } catch (error) {
    throw new ApiError(0, `cannot reach the search API (${error instanceof Error ? error.message : String(error)})`);
  }
}

export async function getJson(path: string, init?: RequestInit): Promise<Json> {
  let key = storedApiKey();
  let response = await fetchWithKey(path, init, key);
  // the server wants a key (or another one): ask once, then retry with it until the user gives up
  while (response.status === 401) {
    const next = await keyAfter401(key);
    if (!next) break;
    key = next;
    response = await fetchWithKey(path, init, key);
  }
  const text = await response.text();
  let body: Json = undefined;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = text;
  }
  if (!response.ok) {
    const message =
      isObj(body) && typeof body['message'] === 'string'
        ? body['message']
        : `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, `${path.split('?')[0]}: ${message}`);
  }
  return body;
}

const enc = encodeURIComponent;

export function normaliseEvalList(body: Json): EvalSummary[] {
  const list = Array.isArray(body)
    ? body
    : isObj(body)
      ? (pick(body, 'evals', 'items', 'results') as unknown)
      : undefined;
  if (!Array.isArray(list)) return [];
  const out: EvalSummary[] = [];
  for (const item of list) {
    if (typeof item === 'string') {
      out.push({ name: item });
      continue;
    }
    if (!isObj(item)) continue;
    const name = str(pick(item, 'name', 'id'));
    if (!name) continue;
    const collection = pick(item, 'collection');
    const systems = pick(item, 'systems');
    out.push({
      name,
      collection: isObj(collection) ? str(collection['name']) : str(collection),
      createdAt: str(pick(item, 'createdAt', 'modifiedAt')),
      systems: Array.isArray(systems)
        ? systems.filter((s): s is string => typeof s === 'string')
        : isObj(systems)
          ? Object.keys(systems)
          : undefined,
    });
  }
  return out;
}

function normaliseValues(v: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (!isObj(v)) return out;
  for (const [k, x] of Object.entries(v)) {
    const n = num(x);
    if (n !== null) out[k] = n;
  }
  return out;
}

function normaliseSignificance(v: unknown): Record<string, Significance> | undefined {
  if (!isObj(v)) return undefined;
  const out: Record<string, Significance> = {};
  for (const [measure, s] of Object.entries(v)) {
    if (!isObj(s)) continue;
    out[measure] = {
      pValueTTest: num(pick(s, 'pValueTTest', 'pTTest', 'ttest')),
      pValueRandomization: num(pick(s, 'pValueRandomization', 'pRandomization', 'randomization')),
      wins: num(s['wins']) ?? 0,
      ties: num(s['ties']) ?? 0,
      losses: num(s['losses']) ?? 0,
      delta: num(s['delta']) ?? 0,
    };
  }
  return out;
}

/** Validates a metrics.json; throws a message naming the field when the file is not one. */
export function normaliseMetrics(body: Json): MetricsReport {
  if (!isObj(body)) throw new ApiError(0, 'metrics: not a JSON object');
  const systemsIn = body['systems'];
  if (!isObj(systemsIn) || Object.keys(systemsIn).length === 0)
    throw new ApiError(0, 'metrics.systems: missing or empty');
  const systems: Record<string, SystemReport> = {};
  for (const [name, s] of Object.entries(systemsIn)) {
    if (!isObj(s)) continue;
    const perQuery: Record<string, Record<string, number>> = {};
    if (isObj(s['perQuery']))
      for (const [qid, values] of Object.entries(s['perQuery'])) perQuery[qid] = normaliseValues(values);
    const significance = normaliseSignificance(s['significance']);
    systems[name] = { aggregate: normaliseValues(s['aggregate']), perQuery, ...(significance ? { significance } : {}) };
  }
  const collection = isObj(body['collection']) ? body['collection'] : {};
  const model = isObj(body['model']) ? body['model'] : null;
  const measuresIn = Array.isArray(body['measures'])
    ? body['measures'].filter((m): m is string => typeof m === 'string')
    : [];
  const measures = measuresIn.length > 0 ? measuresIn : Object.keys(Object.values(systems)[0]?.aggregate ?? {});
  const baseline = str(body['baseline']) ?? (systems['bm25'] ? 'bm25' : Object.keys(systems)[0]!);
  const firstStageRecall: MetricsReport['firstStageRecall'] = {};
  if (isObj(body['firstStageRecall'])) {
    for (const [stage, c] of Object.entries(body['firstStageRecall'])) {
      if (!isObj(c) || !Array.isArray(c['depths']) || !Array.isArray(c['recall'])) continue;
      firstStageRecall[stage] = {
        depths: c['depths'].map((x) => num(x) ?? NaN),
        recall: c['recall'].map((x) => num(x) ?? NaN),
      };
    }
  }
  return {
    version: num(body['version']) ?? 1,
    collection: {
      name: str(collection['name']) ?? 'unknown collection',
      queries: num(collection['queries']) ?? Object.keys(systems[baseline]?.perQuery ?? {}).length,
      documents: num(collection['documents']) ?? 0,
    },
    createdAt: str(body['createdAt']) ?? '',
    model: model ? { id: str(model['id']) ?? 'unknown', revision: str(model['revision']) ?? '' } : null,
    depth: num(body['depth']) ?? 0,
    level: num(body['level']) ?? 1,
    baseline,
    measures,
    systems,
    firstStageRecall,
  };
}

function normaliseRunRow(v: unknown, fallbackQid?: string): RunRow | null {
  if (Array.isArray(v)) {
    // TREC columns: qid Q0 docno rank score tag
    const [qid, , docId, rank, score] = v as unknown[];
    const r = num(rank);
    const s = num(score);
    const q = str(qid);
    const d = str(docId);
    return q && d && r !== null && s !== null ? { qid: q, docId: d, rank: r, score: s } : null;
  }
  if (!isObj(v)) return null;
  const qid = str(pick(v, 'qid', 'queryId', 'query_id', 'topic')) ?? fallbackQid;
  const docId = str(pick(v, 'docId', 'docid', 'doc_id', 'docno', 'id'));
  const rank = num(v['rank']);
  const score = num(v['score']);
  if (!qid || !docId || score === null) return null;
  const text = str(pick(v, 'text', 'passage'));
  return { qid, docId, rank: rank ?? 0, score, ...(text !== undefined ? { text } : {}) };
}

/** Run rows of one query, best first. Accepts an array of rows, `{rows}`, `{results}` or `{ qid: rows }`. */
export function normaliseRunRows(body: Json, qid?: string): RunRow[] {
  let list: unknown = body;
  if (isObj(body)) {
    list = pick(body, 'rows', 'run', 'results', 'items');
    if (list === undefined && qid !== undefined) list = body[qid];
  }
  if (!Array.isArray(list)) return [];
  const rows: RunRow[] = [];
  for (const item of list) {
    const row = normaliseRunRow(item, qid);
    if (row && (qid === undefined || row.qid === qid)) rows.push(row);
  }
  rows.sort(
    (a, b) =>
      b.score - a.score ||
      (a.rank && b.rank ? a.rank - b.rank : 0) ||
      (a.docId < b.docId ? 1 : a.docId > b.docId ? -1 : 0),
  );
  return rows.map((r, i) => ({ ...r, rank: i + 1 }));
}

/** Relevance labels of one query: `{docId: grade}`. Accepts a map, `{judgments}`, `{qrels}` or rows. */
export function normaliseQrels(body: Json, qid: string): Record<string, number> {
  let v: unknown = body;
  if (isObj(v)) v = pick(v, 'judgments', 'qrels', 'labels', 'relevance') ?? v;
  if (isObj(v) && isObj(v[qid])) v = v[qid];
  const out: Record<string, number> = {};
  if (Array.isArray(v)) {
    for (const row of v) {
      if (!isObj(row)) continue;
      if (row['qid'] !== undefined && str(row['qid']) !== qid) continue;
      const doc = str(pick(row, 'docId', 'docid', 'doc_id', 'id'));
      const rel = num(pick(row, 'relevance', 'rel', 'grade', 'label'));
      if (doc && rel !== null) out[doc] = rel;
    }
  } else if (isObj(v)) {
    for (const [doc, rel] of Object.entries(v)) {
      const n = num(rel);
      if (n !== null) out[doc] = n;
    }
  }
  return out;
}

function normaliseHit(v: unknown, i: number): SearchHit | null {
  if (!isObj(v)) return null;
  const id = str(pick(v, 'id', 'docId'));
  const score = num(v['score']);
  if (!id || score === null) return null;
  return {
    id,
    rank: num(v['rank']) ?? i + 1,
    score,
    bm25Score: num(pick(v, 'bm25Score', 'bm25')),
    text: str(v['text']) ?? '',
  };
}

export function normaliseSearch(body: Json): SearchResponse {
  if (!isObj(body) || !Array.isArray(body['results'])) throw new ApiError(0, 'search: response has no results array');
  const timings: Record<string, number> = {};
  if (isObj(body['timings']))
    for (const [k, t] of Object.entries(body['timings'])) if (num(t) !== null) timings[k] = num(t)!;
  return {
    query: str(body['query']) ?? '',
    results: body['results'].map(normaliseHit).filter((h): h is SearchHit => h !== null),
    fusion: str(body['fusion']) ?? '',
    degraded: body['degraded'] === true,
    ...(typeof body['reason'] === 'string' ? { reason: body['reason'] } : {}),
    timings,
  };
}

function percentiles(v: unknown): LatencyPercentiles | null {
  if (!isObj(v)) return null;
  const p50 = num(pick(v, 'p50', 'median', '0.5', '50'));
  const p95 = num(pick(v, 'p95', '0.95', '95'));
  const p99 = num(pick(v, 'p99', '0.99', '99'));
  return p50 === null && p95 === null && p99 === null ? null : { p50, p95, p99 };
}

const ratio = (v: unknown): number | null => {
  if (isObj(v)) {
    const r = num(pick(v, 'ratio', 'rate', 'value'));
    if (r !== null) return r;
    const hits = num(v['hits']);
    const misses = num(v['misses']);
    if (hits !== null && misses !== null) return hits + misses > 0 ? hits / (hits + misses) : null;
    return null;
  }
  return num(v);
};

/** Reads GET /api/stats, whatever nesting the API uses for stages and counters. */
export function normaliseStats(body: Json): LiveStats {
  const o = isObj(body) ? body : {};
  const requests = isObj(o['requests']) ? o['requests'] : {};
  const cache = o['cache'];
  const queue = isObj(o['queue']) ? o['queue'] : {};
  const workers = o['workers'];
  const latency: Record<string, LatencyPercentiles> = {};
  const latencyIn = pick(o, 'latency', 'latencyMs', 'stages');
  if (isObj(latencyIn)) {
    for (const [stage, v] of Object.entries(latencyIn)) {
      const p = percentiles(v);
      if (p) latency[stage] = p;
    }
  }
  return {
    mode: str(o['mode']) ?? null,
    requestsPerSecond: num(pick(o, 'requestsPerSecond', 'rps')) ?? num(pick(requests, 'perSecond', 'rate', 'rps')),
    totalRequests: num(pick(o, 'totalRequests')) ?? num(pick(requests, 'total', 'count')),
    latency,
    degradedRate: num(pick(o, 'degradedRate', 'degradedRatio')) ?? ratio(o['degraded']),
    cacheHitRatio: num(pick(o, 'cacheHitRatio', 'cacheHitRate')) ?? ratio(cache),
    queryCacheHitRatio: num(o['queryCacheHitRatio']),
    queueDepth: num(pick(o, 'queueDepth')) ?? num(pick(queue, 'depth', 'waiting')),
    activeWorkers:
      num(pick(o, 'activeWorkers')) ??
      (isObj(workers) ? num(pick(workers, 'active', 'count')) : num(workers)) ??
      num(queue['workers']),
  };
}

/** The best-passages answer as docid -> passage; lines of other queries or with bad offsets are left out. */
export function normaliseBestPassages(body: Json, qid: string): Map<string, BestPassage> {
  const out = new Map<string, BestPassage>();
  const list = isObj(body) && Array.isArray(body['passages']) ? body['passages'] : [];
  for (const p of list) {
    if (!isObj(p) || str(p['qid']) !== qid) continue;
    const docid = str(p['docid']);
    const text = str(p['text']);
    const start = num(p['start']);
    const end = num(p['end']);
    const score = num(p['score']);
    if (docid === undefined || text === undefined || start === null || end === null || score === null) continue;
    if (start < 0 || end < start) continue;
    out.set(docid, { text, start, end, score });
  }
  return out;
}

export const api = {
  async evals(): Promise<EvalSummary[]> {
    return normaliseEvalList(await getJson('/api/evals'));
  },
  async metrics(name: string): Promise<MetricsReport> {
    return normaliseMetrics(await getJson(`/api/evals/${enc(name)}/metrics`));
  },
  async run(name: string, system: string, qid: string): Promise<RunRow[]> {
    return normaliseRunRows(await getJson(`/api/evals/${enc(name)}/runs/${enc(system)}?qid=${enc(qid)}`), qid);
  },
  /** A windowed system's best passage per document of one query (empty when the system used no windows). */
  async bestPassages(name: string, system: string, qid: string): Promise<Map<string, BestPassage>> {
    return normaliseBestPassages(
      await getJson(`/api/evals/${enc(name)}/best-passages/${enc(system)}?qid=${enc(qid)}`),
      qid,
    );
  },
  async qrels(name: string, qid: string): Promise<Record<string, number>> {
    return normaliseQrels(await getJson(`/api/evals/${enc(name)}/qrels/${enc(qid)}`), qid);
  },
  async passage(name: string, id: string): Promise<{ id: string; text: string; title?: string }> {
    const body = await getJson(`/api/evals/${enc(name)}/passages/${enc(id)}`);
    const o = isObj(body) ? body : {};
    const title = str(o['title']);
    return { id, text: str(pick(o, 'text', 'passage')) ?? '', ...(title ? { title } : {}) };
  },
  async queryText(name: string, qid: string): Promise<string | null> {
    const body = await getJson(`/api/evals/${enc(name)}/queries/${enc(qid)}`);
    return isObj(body) ? (str(body['text']) ?? null) : null;
  },
  async stats(): Promise<LiveStats> {
    return normaliseStats(await getJson('/api/stats'));
  },
  async search(q: string, k: number, fusion: string, signal?: AbortSignal): Promise<SearchResponse> {
    const params = new URLSearchParams({ q, k: String(k), fusion });
    return normaliseSearch(await getJson(`/search?${params.toString()}`, signal ? { signal } : undefined));
  },
};
