import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { ConfigError } from '@dotrank/core';

/**
 * What a connection is for, which decides how it behaves while Redis is away:
 * - `command`: ordinary commands (vector reads and writes, payloads, the queue producer): queued while reconnecting,
 *   failed after 3 retries so that callers see the outage (the API then degrades);
 * - `blocking`: BullMQ workers and QueueEvents, which block on Redis and must never give up (BullMQ requires
 *   `maxRetriesPerRequest: null`);
 * - `probe`: a health check kept open (the API's readiness): no offline queue, one retry, a 2 s connect timeout;
 * - `check`: a one-off "does Redis answer?" (CLI): connects on `connect()`, 1.5 s timeout, never reconnects.
 */
export type RedisRole = 'command' | 'blocking' | 'probe' | 'check';

export interface RedisConnectionOptions {
  /** Default `command`. */
  role?: RedisRole;
  /** Connection errors (each reconnect attempt); default: ignored, as commands report the outage themselves. */
  onError?: (error: Error) => void;
  /**
   * Connect to a Redis Cluster seeded by the URL even without `?cluster=1` in it (default: as the URL says, see
   * clusterSeedsFromUrl).
   */
  cluster?: boolean;
  /**
   * Cluster only: commands issued in the same tick travel as one pipeline per node (ioredis' auto-pipelining). The
   * vector cache turns it on for its own connection: a 1,000-key read is ~1,000 single-slot MGETs on a cluster.
   */
  autoPipelining?: boolean;
}

const ROLE_OPTIONS: Record<RedisRole, RedisOptions> = {
  command: { maxRetriesPerRequest: 3, enableOfflineQueue: true },
  blocking: { maxRetriesPerRequest: null, enableOfflineQueue: true },
  probe: { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000 },
  check: {
    lazyConnect: true,
    connectTimeout: 1500,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  },
};

/** REDIS_URL as ioredis options, each problem naming REDIS_URL (ioredis itself reads a bad URL as localhost). */
export function redisOptionsFromUrl(url: string): RedisOptions {
  const u = parseRedisUrl(url);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : undefined;
  if (db !== undefined && !Number.isInteger(db))
    throw new ConfigError('REDIS_URL', `database must be a number (got ${u.pathname.slice(1)})`);
  return {
    host: u.hostname || '127.0.0.1',
    port: Number(u.port || 6379),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(db !== undefined ? { db } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

function parseRedisUrl(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError('REDIS_URL', `is not a URL (got ${JSON.stringify(url)})`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:')
    throw new ConfigError('REDIS_URL', `must start with redis:// or rediss:// (got ${u.protocol})`);
  for (const name of u.searchParams.keys())
    if (name !== 'cluster')
      throw new ConfigError('REDIS_URL', `unknown parameter ${JSON.stringify(name)} (only cluster)`);
  return u;
}

/** A Redis Cluster node to start from. */
export interface ClusterSeed {
  host: string;
  port: number;
}

const SEED_PATTERN = /^(\[[0-9a-fA-F:.]+\]|[^\s:,/@?#]+):(\d{1,5})$/;

/** `host:port,host:port` (REDIS_CLUSTER_NODES) as seeds; `field` names the variable in errors. */
export function parseClusterSeeds(list: string, field = 'REDIS_CLUSTER_NODES'): ClusterSeed[] {
  const seeds = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const m = SEED_PATTERN.exec(s);
      const port = m ? Number(m[2]) : 0;
      if (!m || port < 1 || port > 65_535) throw new ConfigError(field, `${JSON.stringify(s)} is not host:port`);
      return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
    });
  if (seeds.length === 0) throw new ConfigError(field, 'names no node (expected host:port,host:port,...)');
  return seeds;
}

/**
 * The Redis Cluster seeds a URL names, or undefined for a single Redis.
 * `redis://host:port?cluster=1` (or `yes`, `true`): a cluster reached through that node; `?cluster=h:p,h:p`: that
 * node and these (REDIS_CLUSTER_NODES is turned into this form by loadConfig). Any node will do: the client learns
 * the others, and which slots each serves, from it.
 */
export function clusterSeedsFromUrl(url: string): ClusterSeed[] | undefined {
  const u = parseRedisUrl(url);
  const value = u.searchParams.get('cluster');
  if (value === null || value === '0' || value === 'no' || value === 'false') return undefined;
  const first = { host: u.hostname || '127.0.0.1', port: Number(u.port || 6379) };
  if (u.pathname.length > 1 && u.pathname !== '/0')
    throw new ConfigError('REDIS_URL', `a Redis Cluster has only database 0 (got ${u.pathname.slice(1)})`);
  if (value === '' || value === '1' || value === 'yes' || value === 'true') return [first];
  return [first, ...parseClusterSeeds(value, 'REDIS_URL')];
}

/** Whether a URL names a Redis Cluster (see clusterSeedsFromUrl). */
export function isClusterUrl(url: string): boolean {
  return clusterSeedsFromUrl(url) !== undefined;
}

/** A connection made by createRedisConnection: a plain client, or a Cluster client when the URL names a cluster. */
export type RedisClient = Redis | Cluster;

/** Whether a client is a Redis Cluster client (its keys of one multi-key command must share a slot). */
export function isCluster(client: RedisClient): client is Cluster {
  return client instanceof Cluster;
}

/**
 * How a cluster client behaves per role: the per-node options of the role, plus the cluster's own retry rules. While
 * a master is gone (until its replica takes over, about cluster-node-timeout and a second), a command for its slots
 * is retried on a fresh slot map a few times (maxRedirections, 200 ms apart), then fails (the caller degrades, or its
 * deadline passes first); the other slots are unaffected.
 */
function clusterOptions(base: RedisOptions, role: RedisRole, autoPipelining: boolean): ClusterOptions {
  const { host: _host, port: _port, db: _db, ...nodeOptions } = base;
  const roleOptions = ROLE_OPTIONS[role];
  const common: ClusterOptions = {
    redisOptions: { ...nodeOptions, ...roleOptions, lazyConnect: false },
    enableOfflineQueue: roleOptions.enableOfflineQueue ?? true,
    // reads and writes go to masters (a replica may lag: a cached vector or a job could be missing there)
    scaleReads: 'master',
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 200,
    retryDelayOnTryAgain: 200,
    // redirections and retries of one command while a slot has no master: ~8 x 200 ms, then it fails
    maxRedirections: 8,
    slotsRefreshTimeout: 1000,
    slotsRefreshInterval: 2000,
    enableAutoPipelining: autoPipelining,
  };
  if (role === 'check') return { ...common, lazyConnect: true, clusterRetryStrategy: () => null };
  return common;
}

/** The one way dotrank connects to Redis (queue producer and worker, vector cache, API probe, the other stores). */
export function createRedisConnection(url: string, options: RedisConnectionOptions = {}): RedisClient {
  const base = redisOptionsFromUrl(url);
  const role = options.role ?? 'command';
  const seeds = options.cluster
    ? (clusterSeedsFromUrl(url) ?? [{ host: base.host!, port: base.port! }])
    : clusterSeedsFromUrl(url);
  const connection = seeds
    ? new Cluster(seeds, clusterOptions(base, role, options.autoPipelining ?? false))
    : new Redis({ ...base, ...ROLE_OPTIONS[role] });
  // without a listener ioredis prints "Unhandled error event" on every reconnect attempt
  connection.on('error', options.onError ?? (() => undefined));
  return connection;
}
