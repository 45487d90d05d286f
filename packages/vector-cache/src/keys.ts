import * as crypto from 'node:crypto';
import type { VectorDtype } from './codec.js';

/**
 * A passage to look up: its id and either the exact text that was (or will be) encoded, or that text's `textHash`,
 * computed by whoever holds the text (a queue producer sends the hashes, so a worker can read the cache before the
 * texts reach it).
 */
export type VectorKey = { id: string; text: string } | { id: string; textHash: string };

/** What `textHash` returns: 16 lowercase hex characters. */
export const TEXT_HASH_PATTERN = /^[0-9a-f]{16}$/;

// one-shot crypto.hash (Node >= 20.12) skips the Hash object per call: a 1,000-candidate job hashes 1,000 texts
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }).hash;
const sha256 = oneShot
  ? (s: string) => oneShot('sha256', s, 'hex')
  : (s: string) => crypto.createHash('sha256').update(s, 'utf8').digest('hex');

/** 16 hex chars (64 bits) of sha256 of the passage text: a changed text gives another key, so never a stale vector. */
export function textHash(text: string): string {
  return sha256(text).slice(0, 16);
}

/** The text hash a key stands for: the one it carries, or the hash of its text. */
export function keyTextHash(key: VectorKey): string {
  return 'textHash' in key ? key.textHash : textHash(key.text);
}

/** 12 hex chars naming model id + revision + dtype: two models (or codecs) never share keys. */
export function modelHash(modelId: string, revision: string, dtype: VectorDtype): string {
  return sha256(`${modelId}\u0000${revision}\u0000${dtype}`).slice(0, 12);
}

/**
 * Redis Cluster: how many hash slots one model's vectors spread over. A batch costs one MGET per distinct slot, so
 * a tag per key (16,384 slots) makes a 1,000-candidate read ~1,000 commands; 128 buckets make it at most 128 (each on
 * the node that owns it), still spread over up to 128 shards.
 */
export const CLUSTER_VECTOR_BUCKETS = 128;

/**
 * `${prefix}:vec:${modelHash}:${id}:${textHash}` on a single Redis. On a Redis Cluster (`clusterBuckets` given),
 * `${prefix}:vec:${modelHash}:{${modelHash}:${bucket}}:${id}:${textHash}`: the hash tag puts each key in one of
 * `clusterBuckets` slots per model, chosen by its text hash, so that a batch needs one MGET per bucket, not per key.
 * Either way the key starts with `${prefix}:vec:` (ACL patterns, prefix cleanup).
 */
export function vectorRedisKey(prefix: string, model: string, key: VectorKey, clusterBuckets?: number): string {
  const hash = keyTextHash(key);
  if (clusterBuckets === undefined) return `${prefix}:vec:${model}:${key.id}:${hash}`;
  const bucket = Number.parseInt(hash.slice(0, 8), 16) % clusterBuckets;
  return `${prefix}:vec:${model}:{${model}:${bucket}}:${key.id}:${hash}`;
}
