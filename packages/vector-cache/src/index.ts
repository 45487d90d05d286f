// Public API of @dotrank/vector-cache: passage-vector stores (Redis, in-memory), the Redis connection, and the
// passage text hash that keys them.
export type { VectorStore } from './types.js';
export { scoreCached } from './types.js';
export type { VectorKey } from './keys.js';
export { textHash, TEXT_HASH_PATTERN } from './keys.js';
export { MemoryVectorStore } from './memory-store.js';
export {
  createRedisConnection,
  redisOptionsFromUrl,
  clusterSeedsFromUrl,
  parseClusterSeeds,
  isClusterUrl,
  isCluster,
  type RedisClient,
  type ClusterSeed,
} from './connection.js';
export { RedisVectorStore, vectorStoreOptionsFromConfig } from './redis-store.js';
