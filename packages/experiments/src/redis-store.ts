import type { Cluster, Redis } from 'ioredis';
import type { ExperimentStore, StoreLimits } from './store.js';
import type { ExperimentEvent, Impression } from './types.js';

const DAY_MS = 86_400_000;
/** How often (at most) one stream is trimmed to the retention with XTRIM MINID. */
const TRIM_EVERY_MS = 60_000;
const PAGE = 1000;
/**
 * Impressions this process logged or looked up, kept to validate their events without a Redis round trip (an
 * impression never changes what an event is checked against; an id missing here is looked up in Redis).
 */
const RECENT_IMPRESSIONS = 10_000;
/** Impressions waiting to be written; more are refused (and counted), never queued without bound. */
const MAX_BUFFERED = RECENT_IMPRESSIONS;
/** A flush is sent at once when this many impressions wait, else after flushEveryMs. */
const FLUSH_BATCH = 256;
const FLUSH_EVERY_MS = 5;

/**
 * Appends events whose eventId is new: SET NX on the id's key (expiring with the retention), then XADD capped by
 * MAXLEN ~. One script, so a batch is one round trip and a duplicate is never appended, even from two processes.
 * KEYS[1] = events stream; ARGV = maxlen, ttl seconds, event-key prefix, then (eventId, json) pairs. Returns one flag
 * per pair (1 = appended, 0 = duplicate), so the events of several requests can share one call.
 */
const APPEND_EVENTS = `
local added = {}
for i = 4, #ARGV, 2 do
  if redis.call('SET', ARGV[3] .. ARGV[i], '1', 'NX', 'EX', ARGV[2]) then
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'j', ARGV[i + 1])
    added[#added + 1] = 1
  else
    added[#added + 1] = 0
  end
end
return added`;
/** Events per script call at most: a long script blocks Redis for everyone meanwhile. */
const APPEND_CHUNK = 500;

/** A plain connection or a Redis Cluster one (every multi-key command of the store stays in one slot). */
export type ExperimentRedis = Redis | Cluster;

type ScriptedRedis = ExperimentRedis & {
  dotrankAppendEvents(
    stream: string,
    maxLen: number,
    ttl: number,
    prefix: string,
    ...pairs: string[]
  ): Promise<number[]>;
};

export interface RedisStoreOptions extends StoreLimits {
  /** Key prefix (DOTRANK_KEY_PREFIX); the store's keys live under `<prefix>:exp:`. */
  keyPrefix: string;
  /** Close the connection with the store (default false: the caller owns it). */
  closeConnection?: boolean;
  now?: () => number;
  /** How often at most one stream is trimmed to the retention (default a minute). */
  trimEveryMs?: number;
  /** How long an impression waits in the write buffer at most before its pipeline is sent (default 5 ms). */
  flushEveryMs?: number;
  /** Impressions the write buffer holds at most (default 10,000); beyond, recordImpression rejects and counts a drop. */
  maxBuffered?: number;
}

/** What became of impressions handed to a store that writes them in the background. */
export interface ImpressionWriteStats {
  /** Written (to the stream, or by id only for a provisional shadow record). */
  written: number;
  /** Refused because the write buffer was full. */
  dropped: number;
  /** Their write failed (Redis away); each rejected its recordImpression promise. */
  failed: number;
  /** Waiting in the buffer now. */
  buffered: number;
}

/** Events of one recordEvents call waiting for the next append (they share it with other calls of the same tick). */
interface PendingEvents {
  events: readonly ExperimentEvent[];
  resolve: (counts: { accepted: number; duplicates: number }) => void;
  reject: (error: Error) => void;
}

interface BufferedImpression {
  impression: Impression;
  provisional: boolean;
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * Impressions and events in Redis Streams, one pair of streams per experiment (`<prefix>:exp:{name}:impressions`,
 * `...:events`), each capped at `maxEvents` (XADD MAXLEN ~) and trimmed to the retention (XTRIM MINID, stream ids
 * being milliseconds). Impressions are also kept by id (for event validation) under keys that expire with the
 * retention. Every key of one experiment carries the hash tag `{name}`, so each multi-key command (MULTI, MGET, the
 * event script) stays in one slot of a Redis Cluster; only the set of names lies outside, and is written alone.
 * Every API process sharing the Redis sees the same experiment.
 *
 * Impressions are written in the background: recordImpression buffers (bounded) and one MULTI per experiment is sent
 * every few milliseconds, so a search answer never waits for Redis. Until written, this process's own index of recent
 * impressions validates their events.
 */
export class RedisExperimentStore implements ExperimentStore {
  readonly kind = 'redis' as const;
  private readonly redis: ScriptedRedis;
  private readonly base: string;
  private readonly ttlSeconds: number;
  private readonly lastTrim = new Map<string, number>();
  private readonly recent = new Map<string, Impression>();
  private readonly now: () => number;
  private buffer: BufferedImpression[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  /** Experiment names this process has added to the set of names (one SADD per name and process). */
  private readonly knownNames = new Set<string>();
  /** The set of names as last read (SMEMBERS), to look impressions up without reading it each time. */
  private readNames = new Set<string>();
  /** recordEvents calls waiting for the next append (one script call per experiment for all of them). */
  private pendingEvents: PendingEvents[] = [];
  /** The append under way, if any; calls arriving meanwhile wait for it and then go together (group commit). */
  private appending: Promise<void> | undefined;
  private appendScheduled = false;
  private readonly counts = { written: 0, dropped: 0, failed: 0 };

  constructor(
    redis: ExperimentRedis,
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

  private impressionKey(experiment: string, id: string): string {
    return `${this.base}:{${experiment}}:impression:${id}`;
  }

  private get namesKey(): string {
    return `${this.base}:names`;
  }

  writeStats(): ImpressionWriteStats {
    return { ...this.counts, buffered: this.buffer.length };
  }

  /** XTRIM MINID (exact) to the retention, at most once a minute per stream, on the write path. */
  private trimLater(stream: string): void {
    const now = this.now();
    if (now - (this.lastTrim.get(stream) ?? 0) < (this.options.trimEveryMs ?? TRIM_EVERY_MS)) return;
    this.lastTrim.set(stream, now);
    const cutoff = Math.max(0, now - this.options.retentionDays * DAY_MS);
    this.redis.xtrim(stream, 'MINID', `${cutoff}-0`).catch(() => undefined);
  }

  /**
   * Buffers the impression for the next background write and resolves once it is written (rejects if the buffer is
   * full or the write fails; both are counted in writeStats). `provisional` (shadow mode, before the rerank ends):
   * known by id for event validation, but not yet appended to the stream; the final record follows.
   */
  recordImpression(impression: Impression, options: { provisional?: boolean } = {}): Promise<void> {
    const limit = this.options.maxBuffered ?? MAX_BUFFERED;
    if (this.buffer.length >= limit) {
      this.counts.dropped++;
      return Promise.reject(
        new Error(`impression write buffer full (${limit} waiting): impression ${impression.impressionId} dropped`),
      );
    }
    this.remember(impression);
    return new Promise<void>((resolve, reject) => {
      this.buffer.push({ impression, provisional: options.provisional === true, resolve, reject });
      if (this.buffer.length >= FLUSH_BATCH) this.flush();
      else this.flushTimer ??= setTimeout(() => this.flush(), this.options.flushEveryMs ?? FLUSH_EVERY_MS);
    });
  }

  /** Sends what waits: one MULTI per experiment (its keys share one slot), and the names this process has not added. */
  private flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const batch = this.buffer;
    if (batch.length === 0) return;
    this.buffer = [];
    const byExperiment = new Map<string, BufferedImpression[]>();
    for (const item of batch) {
      const list = byExperiment.get(item.impression.experiment);
      if (list) list.push(item);
      else byExperiment.set(item.impression.experiment, [item]);
    }
    for (const [experiment, items] of byExperiment) {
      const stream = this.stream(experiment, 'impressions');
      const multi = this.redis.multi();
      for (const { impression, provisional } of items) {
        const json = JSON.stringify(impression);
        multi.set(this.impressionKey(experiment, impression.impressionId), json, 'EX', this.ttlSeconds);
        if (!provisional) multi.xadd(stream, 'MAXLEN', '~', String(this.options.maxEvents), '*', 'j', json);
      }
      const names = this.knownNames.has(experiment)
        ? Promise.resolve()
        : this.redis.sadd(this.namesKey, experiment).then(() => void this.knownNames.add(experiment));
      const write = Promise.all([multi.exec(), names]).then(([results]) => {
        const error = results === null ? new Error('MULTI aborted') : results.find(([e]) => e)?.[0];
        if (error) throw error;
        this.counts.written += items.length;
        for (const item of items) item.resolve();
        this.trimLater(stream);
      });
      const settled = write.catch((error: unknown) => {
        this.counts.failed += items.length;
        const cause = error instanceof Error ? error : new Error(String(error));
        for (const item of items) item.reject(cause);
      });
      this.inFlight.add(settled);
      void settled.finally(() => this.inFlight.delete(settled));
    }
  }

  /** Writes what waits and waits for every write under way (close, tests). */
  async drain(): Promise<void> {
    while (this.appending || this.pendingEvents.length > 0) await (this.appending ?? this.startAppend());
    this.flush();
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  /** Keeps an impression in the index of recent ones (the newest last; the oldest forgotten beyond the bound). */
  private remember(impression: Impression): void {
    this.recent.delete(impression.impressionId);
    this.recent.set(impression.impressionId, impression);
    if (this.recent.size > RECENT_IMPRESSIONS) this.recent.delete(this.recent.keys().next().value!);
  }

  /**
   * The index of recent impressions first, then Redis: an id does not name its experiment, so one single-slot MGET
   * per experiment name, over the names known (added or read before); only ids still missing read the set of names
   * again, for an experiment another process started since. What Redis had is remembered: its events need no lookup.
   */
  async getImpressions(ids: readonly string[]): Promise<Map<string, Impression>> {
    const found = new Map<string, Impression>();
    if (ids.length === 0) return found;
    const cutoff = this.now() - this.options.retentionDays * DAY_MS;
    let missing: string[] = [];
    for (const id of new Set(ids)) {
      const cached = this.recent.get(id);
      if (cached && cached.time >= cutoff) found.set(id, cached);
      else missing.push(id);
    }
    const tried = new Set<string>();
    const lookUp = async (names: string[]) => {
      for (const name of names) tried.add(name);
      const perName = await Promise.all(
        names.map((name) => this.redis.mget(...missing.map((id) => this.impressionKey(name, id)))),
      );
      for (const values of perName)
        missing.forEach((id, i) => {
          const value = values[i];
          if (!value || found.has(id)) return;
          const impression = JSON.parse(value) as Impression;
          found.set(id, impression);
          this.remember(impression);
        });
      missing = missing.filter((id) => !found.has(id));
    };
    if (missing.length > 0) await lookUp([...new Set([...this.knownNames, ...this.readNames])]);
    if (missing.length > 0) {
      this.readNames = new Set(await this.redis.smembers(this.namesKey));
      await lookUp([...this.readNames].filter((name) => !tried.has(name)));
    }
    return found;
  }

  /**
   * Appends events whose eventId is new. Group commit: the calls of one tick, and those that arrive while an append
   * is under way, share the next script call per experiment (in chunks of APPEND_CHUNK). Alone, a call waits one round
   * trip as before; under load the round trips, writes and Redis commands grow with the batches, not the requests.
   * Each call gets its own counts back.
   */
  recordEvents(events: readonly ExperimentEvent[]): Promise<{ accepted: number; duplicates: number }> {
    if (events.length === 0) return Promise.resolve({ accepted: 0, duplicates: 0 });
    return new Promise((resolve, reject) => {
      this.pendingEvents.push({ events, resolve, reject });
      this.scheduleAppend();
    });
  }

  private scheduleAppend(): void {
    if (this.appending || this.appendScheduled) return;
    this.appendScheduled = true;
    setImmediate(() => {
      this.appendScheduled = false;
      if (!this.appending && this.pendingEvents.length > 0) void this.startAppend();
    });
  }

  private startAppend(): Promise<void> {
    const appending = this.appendPending().finally(() => {
      this.appending = undefined;
      if (this.pendingEvents.length > 0) this.scheduleAppend();
    });
    this.appending = appending;
    return appending;
  }

  /** Sends every waiting call's events and settles each call (never rejects: a failed call is rejected alone). */
  private async appendPending(): Promise<void> {
    const calls = this.pendingEvents;
    this.pendingEvents = [];
    // every event of the tick, grouped by experiment, remembering whose it is
    const byExperiment = new Map<string, { event: ExperimentEvent; call: number }[]>();
    calls.forEach(({ events }, call) => {
      for (const event of events) {
        const list = byExperiment.get(event.experiment);
        if (list) list.push({ event, call });
        else byExperiment.set(event.experiment, [{ event, call }]);
      }
    });
    const accepted = calls.map(() => 0);
    const failed = new Map<number, Error>();
    const appends: Promise<void>[] = [];
    for (const [experiment, list] of byExperiment) {
      const stream = this.stream(experiment, 'events');
      const prefix = `${this.base}:{${experiment}}:event:`;
      for (let from = 0; from < list.length; from += APPEND_CHUNK) {
        const chunk = list.slice(from, from + APPEND_CHUNK);
        const pairs = chunk.flatMap(({ event }) => [event.eventId, JSON.stringify(event)]);
        const append = this.redis.dotrankAppendEvents(
          stream,
          this.options.maxEvents,
          this.ttlSeconds,
          prefix,
          ...pairs,
        );
        appends.push(
          append.then(
            (flags) => flags.forEach((flag, i) => (accepted[chunk[i]!.call]! += flag)),
            (error: unknown) => {
              const cause = error instanceof Error ? error : new Error(String(error));
              for (const { call } of chunk) failed.set(call, cause);
            },
          ),
        );
      }
      this.trimLater(stream);
    }
    await Promise.all(appends);
    calls.forEach(({ events, resolve, reject }, call) => {
      const error = failed.get(call);
      if (error) reject(error);
      else resolve({ accepted: accepted[call]!, duplicates: events.length - accepted[call]! });
    });
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
    await this.drain(); // this process's impressions still in the buffer are part of the answer
    return this.readStream<Impression>(this.stream(experiment, 'impressions'));
  }

  async events(experiment: string): Promise<ExperimentEvent[]> {
    return this.readStream<ExperimentEvent>(this.stream(experiment, 'events'));
  }

  async experiments(): Promise<string[]> {
    await this.drain();
    return (await this.redis.smembers(this.namesKey)).sort();
  }

  async close(): Promise<void> {
    await this.drain();
    if (this.options.closeConnection) this.redis.disconnect();
  }
}
