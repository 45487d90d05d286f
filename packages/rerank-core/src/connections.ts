import { Redis, type Cluster } from 'ioredis';
import { createRedisConnection } from '@dotrank/vector-cache';

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
  const blocking = connection instanceof Redis ? connection.duplicate({ maxRetriesPerRequest: null }) : connection.duplicate();
  blocking.on('error', onError ?? (() => undefined));
  return { command: connection, blocking, owned: [blocking] };
}

/** Closes what queueConnections opened (a client whose server is gone is disconnected instead). */
export async function closeConnections(connections: QueueConnections): Promise<void> {
  await Promise.allSettled(connections.owned.map((c) => c.quit().catch(() => c.disconnect())));
}
