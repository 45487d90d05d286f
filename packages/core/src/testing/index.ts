// Test helpers shared by packages (imported from '@dotrank/core/testing', never from production code).
export { candidateSourceContract, CONTRACT_PASSAGES } from './candidate-source-contract.js';
export {
  redisUrlForTests,
  uniquePrefix,
  repoPath,
  tinyModelDir,
  deleteKeysWithPrefix,
  keysMatching,
  seededRandom,
} from './env.js';
export { startRedisServer, freePort, type OwnRedis } from './redis-server.js';
export { spawnService, type SpawnedService } from './process.js';
export {
  startRedisCluster,
  redisClusterUnavailable,
  type OwnRedisCluster,
  type ClusterNode,
  type RedisClusterOptions,
} from './redis-cluster.js';
