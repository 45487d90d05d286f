import { Queue, QueueEvents } from 'bullmq';
import type { Candidate } from '@dotrank/core';
import { deleteKeysWithPrefix, redisUrlForTests } from '@dotrank/core/testing';
import { createRedisConnection } from '@dotrank/vector-cache';
import { heartbeatKey, queueNames } from '../src/wire.js';

/** Deletes every key under our prefix (SCAN + DEL), never anything else. */
export async function deleteKeys(prefix: string): Promise<void> {
  const redis = createRedisConnection(redisUrlForTests());
  try {
    await deleteKeysWithPrefix(redis, prefix);
  } finally {
    await redis.quit();
  }
}

const WORDS =
  'boundary layer flow heat transfer shock wave supersonic wing vibration shell buckling pressure nozzle jet turbulence'.split(
    ' ',
  );

/** Deterministic passages: word mixes so scores differ. */
export function makeCandidates(n: number, seed: number, wordsPer = 12): Candidate[] {
  let s = seed >>> 0;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
  return Array.from({ length: n }, (_, i) => {
    const words = Array.from({ length: wordsPer }, () => WORDS[next() % WORDS.length]!);
    return { id: `s${seed}-p${i}`, text: `${words.join(' ')} ${i}`, score: n - i + (next() % 1000) / 1000 };
  });
}

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
