import type { Redis } from 'ioredis';
import type { ExperimentStore, StoreLimits } from './store.js';
import type { ExperimentEvent, Impression } from './types.js';

const DAY_MS = 86_400_000;
/** How often (at most) one stream is trimmed to the retention with XTRIM MINID. */
const TRIM_EVERY_MS = 60_000;
const PAGE = 1000;
/** Impressions this process logged, kept to validate their events without a Redis round trip. */
const RECENT_IMPRESSIONS = 10_000;

/**
 * Appends events whose eventId is new: SET NX on the id's key (expiring with the retention), then XADD capped by
 * MAXLEN ~. One script, so a batch is one round trip and a duplicate is never appended, even from two processes.
 * KEYS[1] = events stream; ARGV = maxlen, ttl seconds, event-key prefix, then (eventId, json) pairs.
 */
const APPEND_EVENTS = `
local added = 0
for i = 4, #ARGV, 2 do
  if redis.call('SET', ARGV[3] .. ARGV[i], '1', 'NX', 'EX', ARGV[2]) then
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'j', ARGV[i + 1])
    added = added + 1
  end
end
return added`;

type ScriptedRedis = Redis & {
  dotrankAppendEvents(stream: string, maxLen: number, ttl: number, prefix: string, ...pairs: string[]): Promise<number>;
};

export interface RedisStoreOptions extends StoreLimits {
  /** Key prefix (DOTRANK_KEY_PREFIX); the store's keys live under `<prefix>:exp:`. */
  keyPrefix: string;
  /** Close the connection with the store (default false: the caller owns it). */
  closeConnection?: boolean;
  now?: () => number;
  /** How often at most one stream is trimmed to the retention (default a minute). */
  trimEveryMs?: number;
}

/**
 * Impressions and events in Redis Streams, one pair of streams per experiment (`<prefix>:exp:{name}:impressions`,
 * `...:events`), each capped at `maxEvents` (XADD MAXLEN ~) and trimmed to the retention (XTRIM MINID, stream ids
 * being milliseconds). Impressions are also kept by id (for event validation) under keys that expire with the
 * retention. Every API process sharing the Redis sees the same experiment.
 */
export class RedisExperimentStore implements ExperimentStore {
  readonly kind = 'redis' as const;
  private readonly redis: ScriptedRedis;
  private readonly base: string;
  private readonly ttlSeconds: number;
  private readonly lastTrim = new Map<string, number>();
  private readonly recent = new Map<string, Impression>();
  private readonly now: () => number;

  constructor(
    redis: Redis,
    private readonly options: RedisStoreOptions,
  ) {
    this.base = `${options.keyPrefix}:exp`;
    this.ttlSeconds = Math.max(1, Math.round(options.retentionDays * 86_400));
    this.now = options.now ?? Date.now;
    if (!('dotrankAppendEvents' in redis))
      redis.defineCommand('dotrankAppendEvents', { numberOfKeys: 1, lua: APPEND_EVENTS });
    this.redis = redis as ScriptedRedis;
  }

  /** Keys of one experiment share a hash tag, so the script's keys sit in one slot. */
  private stream(experiment: string, kind: 'impressions' | 'events'): string {
    return `${this.base}:{${experiment}}:${kind}`;
  }

  private impressionKey(id: string): string {
    return `${this.base}:impression:${id}`;
  }

  /** XTRIM MINID (exact) to the retention, at most once a minute per stream, on the write path. */
  private trimLater(stream: string): void {
    const now = this.now();
    if (now - (this.lastTrim.get(stream) ?? 0) < (this.options.trimEveryMs ?? TRIM_EVERY_MS)) return;
    this.lastTrim.set(stream, now);
    const cutoff = Math.max(0, now - this.options.retentionDays * DAY_MS);
    this.redis.xtrim(stream, 'MINID', `${cutoff}-0`).catch(() => undefined);
  }

  async recordImpression(impression: Impression): Promise<void> {
    const json = JSON.stringify(impression);
    this.recent.set(impression.impressionId, impression);
    if (this.recent.size > RECENT_IMPRESSIONS) this.recent.delete(this.recent.keys().next().value!);
    const stream = this.stream(impression.experiment, 'impressions');
    await this.redis
      .multi()
      .set(this.impressionKey(impression.impressionId), json, 'EX', this.ttlSeconds)
      .xadd(stream, 'MAXLEN', '~', String(this.options.maxEvents), '*', 'j', json)
      .sadd(`${this.base}:names`, impression.experiment)
      .exec();
    this.trimLater(stream);
  }

  async getImpressions(ids: readonly string[]): Promise<Map<string, Impression>> {
    const found = new Map<string, Impression>();
    if (ids.length === 0) return found;
    const cutoff = this.now() - this.options.retentionDays * DAY_MS;
    const missing: string[] = [];
    for (const id of new Set(ids)) {
      const cached = this.recent.get(id);
      if (cached && cached.time >= cutoff) found.set(id, cached);
      else missing.push(id);
    }
    if (missing.length === 0) return found;
    const unique = missing;
    const values = await this.redis.mget(...unique.map((id) => this.impressionKey(id)));
    unique.forEach((id, i) => {
      const value = values[i];
      if (value) found.set(id, JSON.parse(value) as Impression);
    });
    return found;
  }

  async recordEvents(events: readonly ExperimentEvent[]): Promise<{ accepted: number; duplicates: number }> {
    const byExperiment = new Map<string, ExperimentEvent[]>();
    for (const event of events) {
      const list = byExperiment.get(event.experiment);
      if (list) list.push(event);
      else byExperiment.set(event.experiment, [event]);
    }
    let accepted = 0;
    for (const [experiment, list] of byExperiment) {
      const stream = this.stream(experiment, 'events');
      const pairs = list.flatMap((e) => [e.eventId, JSON.stringify(e)]);
      const prefix = `${this.base}:{${experiment}}:event:`;
      accepted += await this.redis.dotrankAppendEvents(
        stream,
        this.options.maxEvents,
        this.ttlSeconds,
        prefix,
        ...pairs,
      );
      this.trimLater(stream);
    }
    return { accepted, duplicates: events.length - accepted };
  }

  private async readStream<T>(stream: string): Promise<T[]> {
    const out: T[] = [];
    let start = '-';
    for (;;) {
      const page = await this.redis.xrange(stream, start, '+', 'COUNT', PAGE);
      for (const [, fields] of page) out.push(JSON.parse(fields[1]!) as T);
      if (page.length < PAGE) return out;
      start = `(${page[page.length - 1]![0]}`;
    }
  }

  async impressions(experiment: string): Promise<Impression[]> {
    return this.readStream<Impression>(this.stream(experiment, 'impressions'));
  }

  async events(experiment: string): Promise<ExperimentEvent[]> {
    return this.readStream<ExperimentEvent>(this.stream(experiment, 'events'));
  }

  async experiments(): Promise<string[]> {
    return (await this.redis.smembers(`${this.base}:names`)).sort();
  }

  async close(): Promise<void> {
    if (this.options.closeConnection) this.redis.disconnect();
  }
}
