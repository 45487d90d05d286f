import { Queue, QueueEvents } from 'bullmq';
import { redisUrlForTests } from '@dotrank/core/testing';
import { createRedisConnection } from '@dotrank/vector-cache';
import { heartbeatKey, queueNames } from '../src/wire.js';

export { deleteKeys, makeCandidates } from '../src/testing/index.js';

/** A plain BullMQ producer and event listener on a test queue (to add jobs QueueReranker would not), closed in full. */
export async function rawQueue(prefix: string) {
  const names = queueNames(prefix);
  const redis = createRedisConnection(redisUrlForTests());
  const blocking = createRedisConnection(redisUrlForTests(), { role: 'blocking' });
  const queue = new Queue(names.rerank, { connection: redis, prefix });
  const events = new QueueEvents(names.rerank, { connection: blocking, prefix });
  await events.waitUntilReady();
  const opts = { attempts: 3, backoff: { type: 'fixed' as const, delay: 10 } };
  const close = async () => {
    await events.close();
    await queue.close();
    await Promise.all([redis.quit(), blocking.quit()]);
  };
  return { names, redis, queue, events, opts, close };
}

/** A heartbeat for a worker this test plays itself (a raw BullMQ Worker, or none that takes jobs): seen for a minute. */
export async function fakeHeartbeat(prefix: string, workerId = 'test-worker'): Promise<void> {
  const redis = createRedisConnection(redisUrlForTests());
  try {
    await redis.zadd(heartbeatKey(queueNames(prefix)), Date.now() + 60_000, workerId);
  } finally {
    await redis.quit();
  }
}

export const API_COMMANDS =
  'ping info client|setname eval evalsha psetex get del exists hget hgetall hmget hmset hset incr lindex llen lpos lpush rpop smembers subscribe xadd xread zadd zcard zcount zrange zrem zscore';
export const WORKER_COMMANDS =
  'ping info client|setname eval evalsha multi exec bzpopmin get mget set del exists pexpire hdel hget hgetall hincrby hmget hmset hset llen lpush lrange lrem rpoplpush scard smembers srem publish xadd xtrim zadd zcard zpopmin zrange zrangebyscore zrem zremrangebyrank zremrangebyscore zrevrange zrevrangebyscore';

/** `ACL SETUSER` arguments: on, a password, key (`~...`) and channel (`&...`) patterns, only these commands. */
export const setUser = (name: string, password: string, keys: string[], commands: string) =>
  [
    'ACL',
    'SETUSER',
    name,
    'reset',
    'on',
    `>${password}`,
    ...keys,
    '-@all',
    ...commands.split(' ').map((c) => `+${c}`),
  ] as const;
