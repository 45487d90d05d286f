import { Redis, type Cluster } from 'ioredis';
import { createRedisConnection, isCluster } from '@dotrank/vector-cache';

/** Whether a queue client runs on a Redis Cluster (its queue keys then carry a hash tag, see queueNames). */
export { isCluster };

/** A Redis URL (REDIS_URL: connections are opened and closed by their user) or an ioredis client (shared, not closed). */
export type QueueConnection = string | Redis | Cluster;

/** The two connections a queue client needs: one for commands, one BullMQ may block on; and those to close. */
export interface QueueConnections {
  command: Redis | Cluster;
  blocking: Redis | Cluster;
  /** Opened here: closed by the client's close(). */
  owned: (Redis | Cluster)[];
}

/** Connections for a producer or a processor, all made by vector-cache's one connection factory. */
export function queueConnections(connection: QueueConnection, onError?: (error: Error) => void): QueueConnections {
  const events = onError ? { onError } : {};
  if (typeof connection === 'string') {
    const command = createRedisConnection(connection, events);
    const blocking = createRedisConnection(connection, { ...events, role: 'blocking' });
    return { command, blocking, owned: [command, blocking] };
  }
  // a shared client: a copy of it that never gives up on a command (what BullMQ requires of blocking connections)
  const blocking =
    connection instanceof Redis
      ? connection.duplicate({ maxRetriesPerRequest: null })
      : connection.duplicate(undefined, {
          redisOptions: { ...connection.options.redisOptions, maxRetriesPerRequest: null },
        });
  blocking.on('error', onError ?? (() => undefined));
  return { command: connection, blocking, owned: [blocking] };
}

/** How long a QUIT may wait for its reply before the socket is simply closed. */
const QUIT_MS = 1000;

/** Closes what queueConnections opened: QUIT, or a plain disconnect when the server is gone or does not answer. */
export async function closeConnections(connections: QueueConnections): Promise<void> {
  await Promise.allSettled(
    connections.owned.map(async (c) => {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), QUIT_MS)));
      const outcome = await Promise.race([c.quit().catch(() => 'failed' as const), timedOut]);
      clearTimeout(timer);
      if (outcome === 'timeout' || outcome === 'failed') c.disconnect();
    }),
  );
}

/** Bounds a close step: a Redis that stopped answering must not hold a shutdown (the caller disconnects after). */
export const CLOSE_STEP_MS = 3000;

/** Resolves when `step` settles or after `ms`, whichever comes first; never rejects. */
export async function bounded(step: Promise<unknown>, ms = CLOSE_STEP_MS): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([step.catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
