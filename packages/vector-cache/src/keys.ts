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
 * `${prefix}:vec:${modelHash}:${id}:${textHash}`. No hash tag: in Redis Cluster a model's vectors spread over all
 * slots (and nodes); the cluster store groups each batch by slot instead (see README for the trade-off).
 */
export function vectorRedisKey(prefix: string, model: string, key: VectorKey): string {
  return `${prefix}:vec:${model}:${key.id}:${keyTextHash(key)}`;
}
