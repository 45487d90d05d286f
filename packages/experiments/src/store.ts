import type { ExperimentEvent, Impression } from './types.js';
import type { ImpressionWriteStats } from './redis-store.js';

/** Where impressions and events live: Redis Streams (shared by every API process) or this process's memory. */
export interface ExperimentStore {
  readonly kind: 'redis' | 'memory';
  /**
   * Logs an impression; settles once it is stored (the Redis store writes in the background: callers on a request
   * path never wait for it). `provisional`: a shadow impression before its rerank ends, known by id (events on it are
   * accepted) but not yet in the experiment's log; the final record with the same id follows.
   */
  recordImpression(impression: Impression, options?: { provisional?: boolean }): Promise<void>;
  /** The impressions with these ids that are known (and not expired). */
  getImpressions(ids: readonly string[]): Promise<Map<string, Impression>>;
  /** Appends events; an `eventId` seen before (within the retention) is a duplicate and is not appended again. */
  recordEvents(events: readonly ExperimentEvent[]): Promise<{ accepted: number; duplicates: number }>;
  /** Counts of a store that writes impressions in the background (Redis); absent when every write is immediate. */
  writeStats?(): ImpressionWriteStats;
  /** Every logged impression / event of one experiment, oldest first. */
  impressions(experiment: string): Promise<Impression[]>;
  events(experiment: string): Promise<ExperimentEvent[]>;
  /** Names of the experiments with anything logged. */
  experiments(): Promise<string[]>;
  close(): Promise<void>;
}

export interface StoreLimits {
  /** Records kept per stream (approximately, for Redis: MAXLEN ~). */
  maxEvents: number;
  /** Records that arrived longer ago than this are dropped (fractions allowed). */
  retentionDays: number;
}

const DAY_MS = 86_400_000;

/** An array capped at `max` entries that forgets entries that arrived longer ago than the retention. */
class CappedLog<T> {
  private readonly arrivals: number[] = [];
  private readonly items: T[] = [];

  constructor(private readonly limits: StoreLimits) {}

  get entries(): readonly T[] {
    return this.items;
  }

  push(entry: T, now: number): void {
    this.items.push(entry);
    this.arrivals.push(now);
    const cutoff = now - this.limits.retentionDays * DAY_MS;
    let drop = Math.max(0, this.items.length - this.limits.maxEvents);
    while (drop < this.items.length && this.arrivals[drop]! < cutoff) drop++;
    if (drop > 0) {
      this.items.splice(0, drop);
      this.arrivals.splice(0, drop);
    }
  }
}

/** The store without Redis: one process, lost on restart; same limits as the Redis one. */
export class MemoryExperimentStore implements ExperimentStore {
  readonly kind = 'memory' as const;
  private readonly impressionLogs = new Map<string, CappedLog<Impression>>();
  private readonly eventLogs = new Map<string, CappedLog<ExperimentEvent>>();
  private readonly byId = new Map<string, Impression>();
  /** eventId -> when it was seen, for idempotence within the retention. */
  private readonly seenEvents = new Map<string, number>();

  constructor(
    private readonly limits: StoreLimits = { maxEvents: 1_000_000, retentionDays: 30 },
    private readonly now: () => number = Date.now,
  ) {}

  private log<T>(logs: Map<string, CappedLog<T>>, name: string) {
    let log = logs.get(name);
    if (!log) logs.set(name, (log = new CappedLog<T>(this.limits)));
    return log;
  }

  async recordImpression(impression: Impression, options: { provisional?: boolean } = {}): Promise<void> {
    if (!options.provisional) this.log(this.impressionLogs, impression.experiment).push(impression, this.now());
    this.byId.set(impression.impressionId, impression);
    if (this.byId.size > this.limits.maxEvents) this.byId.delete(this.byId.keys().next().value!);
  }

  async getImpressions(ids: readonly string[]): Promise<Map<string, Impression>> {
    const cutoff = this.now() - this.limits.retentionDays * DAY_MS;
    const found = new Map<string, Impression>();
    for (const id of ids) {
      const impression = this.byId.get(id);
      if (impression && impression.time >= cutoff) found.set(id, impression);
    }
    return found;
  }

  async recordEvents(events: readonly ExperimentEvent[]): Promise<{ accepted: number; duplicates: number }> {
    const now = this.now();
    const cutoff = now - this.limits.retentionDays * DAY_MS;
    let accepted = 0;
    for (const event of events) {
      const seen = this.seenEvents.get(event.eventId);
      if (seen !== undefined && seen >= cutoff) continue;
      this.seenEvents.set(event.eventId, now);
      if (this.seenEvents.size > this.limits.maxEvents) this.seenEvents.delete(this.seenEvents.keys().next().value!);
      this.log(this.eventLogs, event.experiment).push(event, now);
      accepted++;
    }
    return { accepted, duplicates: events.length - accepted };
  }

  async impressions(experiment: string): Promise<Impression[]> {
    return [...(this.impressionLogs.get(experiment)?.entries ?? [])];
  }

  async events(experiment: string): Promise<ExperimentEvent[]> {
    return [...(this.eventLogs.get(experiment)?.entries ?? [])];
  }

  async experiments(): Promise<string[]> {
    return [...new Set([...this.impressionLogs.keys(), ...this.eventLogs.keys()])].sort();
  }

  async close(): Promise<void> {}
}
