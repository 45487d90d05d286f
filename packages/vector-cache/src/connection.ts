import { Cluster, Redis, type RedisOptions } from 'ioredis';
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
  /** Connect to a Redis Cluster seeded by the URL (default false). */
  cluster?: boolean;
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
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError('REDIS_URL', `is not a URL (got ${JSON.stringify(url)})`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:')
    throw new ConfigError('REDIS_URL', `must start with redis:// or rediss:// (got ${u.protocol})`);
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

/** The one way dotrank connects to Redis (queue producer and worker, vector cache, API probe). */
export function createRedisConnection(url: string, options: { cluster: true } & RedisConnectionOptions): Cluster;
export function createRedisConnection(url: string, options?: RedisConnectionOptions): Redis;
export function createRedisConnection(url: string, options: RedisConnectionOptions = {}): Redis | Cluster {
  const base = redisOptionsFromUrl(url);
  const roleOptions = ROLE_OPTIONS[options.role ?? 'command'];
  const connection = options.cluster
    ? new Cluster([{ host: base.host!, port: base.port! }], { redisOptions: { ...base, ...roleOptions } })
    : new Redis({ ...base, ...roleOptions });
  // without a listener ioredis prints "Unhandled error event" on every reconnect attempt
  connection.on('error', options.onError ?? (() => undefined));
  return connection;
}
