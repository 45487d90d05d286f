import { DotrankError, describeError, type Degradation } from '@dotrank/core';
import { NoWorkersError, RerankJobFailedError } from './errors.js';
import { OverloadedError } from './shedding.js';

/** Error codes of Node's own network errors that mean Redis (the queue) could not be reached. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH']);

/**
 * Why a rerank did not give an answer, as the degraded reason every search path reports (`/search`, the `_search`
 * proxy): a passed deadline is `timeout`; no worker alive (heartbeats), `no_workers`; a rerank refused because its
 * expected wait exceeds its deadline (LoadShedder), `overloaded`; a queue that could not be reached, `queue_unavailable`; a job a worker
 * failed, or anything else, `rerank_failed`. `detail` is the error's message, for people.
 */
export function degradationFor(error: unknown): Degradation {
  const detail = describeError(error);
  if (error instanceof DotrankError) {
    if (error.code === 'timeout') return { reason: 'timeout', detail };
    if (error instanceof RerankJobFailedError) return { reason: 'rerank_failed', detail };
    if (error instanceof NoWorkersError) return { reason: 'no_workers', detail };
    if (error instanceof OverloadedError) return { reason: 'overloaded', detail };
    if (error.code === 'unavailable') return { reason: 'queue_unavailable', detail };
    return { reason: 'rerank_failed', detail };
  }
  if (error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError'))
    return { reason: 'timeout', detail };
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && UNREACHABLE.has(code)) return { reason: 'queue_unavailable', detail };
  return { reason: 'rerank_failed', detail };
}
