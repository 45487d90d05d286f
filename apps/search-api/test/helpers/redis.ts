import { Redis } from 'ioredis';
import { deleteKeysWithPrefix } from '@dotrank/core/testing';

/** Deletes this test's own keys (by prefix); never touches anything else. */
export async function deleteKeys(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    await deleteKeysWithPrefix(redis, prefix);
  } finally {
    redis.disconnect();
  }
}
