// The reranked windows the proxy keeps, so the next pages of a search cost no rerank: one entry per (index, request
// without from/size, model revision, experiment arm, caller credential), in Redis when it is configured (shared by
// every API process) or else in a bounded in-memory LRU, for DOTRANK_WINDOW_TTL_SECONDS.
import { createHash } from 'node:crypto';

type Json = Record<string, unknown>;

/** Where windows are kept: serialised JSON by key, each with its time to live. */
export interface WindowStore {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
}

/** A bounded LRU with per-entry expiry (one process). */
export class MemoryWindowStore implements WindowStore {
  private readonly entries = new Map<string, { value: string; expiresAt: number }>();

  constructor(
    private readonly maxEntries = 1000,
    private readonly now: () => number = Date.now,
  ) {}

  async get(key: string): Promise<string | undefined> {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    if (entry.expiresAt <= this.now()) return undefined;
    this.entries.set(key, entry); // most recently used last
    return entry.value;
  }

  async set(key: string, value: string, ttlSeconds: number): Promise<void> {
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAt: this.now() + ttlSeconds * 1000 });
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  get size(): number {
    return this.entries.size;
  }
}

/** The two Redis commands a window store needs (an ioredis client is one). */
export interface RedisLike {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, mode: 'EX', seconds: number): Promise<unknown>;
}

/**
 * Windows in Redis under `<keyPrefix>:proxy-window:<hash>`, expiring on their own. A call that takes longer than
 * `timeoutMs` (Redis gone, commands queued) fails, so a search computes its window instead of waiting.
 */
export function redisWindowStore(redis: RedisLike, keyPrefix: string, timeoutMs = 250): WindowStore {
  const full = (key: string) => `${keyPrefix}:proxy-window:${key}`;
  const bounded = <T>(call: Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`Redis did not answer within ${timeoutMs} ms`)), timeoutMs);
    });
    return Promise.race([call, late]).finally(() => clearTimeout(timer));
  };
  return {
    async get(key) {
      return (await bounded(redis.get(full(key)))) ?? undefined;
    },
    async set(key, value, ttlSeconds) {
      await bounded(redis.set(full(key), value, 'EX', ttlSeconds));
    },
  };
}

/** JSON with object keys sorted, so two spellings of one request give one key. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const record = value as Json;
    const keys = Object.keys(record)
      .filter((k) => record[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** What one window depends on; any new dimension (the experiment arm) is one more field here. */
export interface WindowKeyParts {
  index: string;
  /** The search request without `from`/`size` (its `rerank` section included). */
  request: Json;
  /** Query-string parameters without `from`/`size`, sorted. */
  params: URLSearchParams;
  /** The reranking model's revision: a new model never serves an old window. */
  modelRevision: string;
  /** The online-experiment arm the caller is in, once experiments exist (null: none). */
  arm?: string | null;
  /** A hash of the caller's own cluster credential when it is forwarded (documents it may not see stay unseen). */
  credential?: string | null;
}

/** The store key of a window: a SHA-256 over the canonical JSON of its parts. */
export function windowKey(parts: WindowKeyParts): string {
  const params = [...parts.params.entries()].sort(([a, x], [b, y]) => (a === b ? x.localeCompare(y) : a < b ? -1 : 1));
  const material = canonicalJson({
    v: 1,
    index: parts.index,
    request: parts.request,
    params,
    model: parts.modelRevision,
    arm: parts.arm ?? null,
    credential: parts.credential ?? null,
  });
  return createHash('sha256').update(material).digest('hex');
}

/** A reranked window as kept: its hits in final order (with `_score` and `_dotrank`) and the response around them. */
export interface RankedWindow {
  v: 1;
  /** The window's hits, best first, each with its final `_score` and `_dotrank`. */
  hits: Json[];
  /** Ids of every first-stage hit the window was built from (also those a `min_score` left out). */
  ids: string[];
  /** The first-stage response without `hits.hits` (took, _shards, hits.total, aggregations, …). */
  envelope: Json;
  /** True when the cluster had no more hits than the window (nothing follows it). */
  exhausted: boolean;
  /** The cluster's content-type and product headers, sent again with pages served from the store. */
  headers?: Record<string, string | string[] | undefined>;
}

/** Reads a kept window; undefined for a missing, foreign or corrupt entry (then it is computed again). */
export function parseWindow(text: string | undefined): RankedWindow | undefined {
  if (text === undefined) return undefined;
  try {
    const parsed = JSON.parse(text) as Partial<RankedWindow>;
    if (parsed.v !== 1 || !Array.isArray(parsed.hits) || !Array.isArray(parsed.ids)) return undefined;
    if (typeof parsed.envelope !== 'object' || parsed.envelope === null) return undefined;
    return parsed as RankedWindow;
  } catch {
    return undefined;
  }
}
