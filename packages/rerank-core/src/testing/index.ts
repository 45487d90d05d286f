// Test helpers for projects that test the rerank queue (@dotrank/rerank-core/testing): not part of the public face.
import type { Candidate } from '@dotrank/core';
import { deleteKeysWithPrefix, redisUrlForTests } from '@dotrank/core/testing';
import { createRedisConnection } from '@dotrank/vector-cache';

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
