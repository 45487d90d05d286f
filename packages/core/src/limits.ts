import { stat } from 'node:fs/promises';
import { ValidationError } from './errors.js';

/** The most candidates any first stage returns for one query (Elasticsearch's default `index.max_result_window`). */
export const MAX_K = 10_000;

/** The longest query text accepted anywhere (API, proxy, queue), in UTF-8 bytes. */
export const MAX_QUERY_BYTES = 10 * 1024;

/** The longest passage text accepted for reranking or encoding, in UTF-8 bytes (the encoder truncates to its max length anyway). */
export const MAX_PASSAGE_BYTES = 64 * 1024;

/** Checks a first stage's `k`: an integer in 1..MAX_K, else a ValidationError naming the field. */
export function validateK(k: unknown, field = 'k'): number {
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > MAX_K) {
    throw new ValidationError(field, `must be an integer from 1 to ${MAX_K} (got ${JSON.stringify(k ?? null)})`);
  }
  return k;
}

/** Whether a path exists (file or folder); false for any error reading it. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
