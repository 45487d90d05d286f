// Public API of @dotrank/vector-cache: passage-vector stores (Redis, in-memory) and their binary codec.
export type { VectorStore, VectorEntry, CacheStats, ScoredLookup } from './types.js';
export { scoreCached } from './types.js';
export type { VectorKey } from './keys.js';
export { textHash, keyTextHash, modelHash, vectorRedisKey, TEXT_HASH_PATTERN } from './keys.js';
export type { VectorDtype, DecodeResult } from './codec.js';
export {
  VECTOR_DTYPES,
  CODEC_VERSION,
  HEADER_BYTES,
  encodeVector,
  decodeVector,
  decodeVectorInto,
  encodedByteLength,
} from './codec.js';
export { MemoryVectorStore } from './memory-store.js';
export type { MemoryVectorStoreOptions } from './memory-store.js';
export { createRedisConnection, redisOptionsFromUrl } from './connection.js';
export type { RedisRole, RedisConnectionOptions } from './connection.js';
export { RedisVectorStore } from './redis-store.js';
export type { RedisVectorStoreOptions } from './redis-store.js';
export { RedisVectorReader, readerOptionsFromIoredis } from './vector-reader.js';
export type { VectorReaderOptions, ValueSink } from './vector-reader.js';
