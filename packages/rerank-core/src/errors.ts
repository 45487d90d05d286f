import { AbortedError, DeadlineError, DotrankError, type DeadlineOptions } from '@dotrank/core';
import type { RerankOptions } from './types.js';
import type { WireFailure } from './wire.js';

/** A rerank that did not finish before its deadline (code 'timeout', field 'deadlineMs'). */
export class RerankTimeoutError extends DeadlineError {
  constructor(deadlineMs: number, problem = `rerank did not finish within ${deadlineMs} ms`) {
    super(deadlineMs, problem);
  }
}

/** A rerank cancelled through its AbortSignal (code 'unavailable': the caller went away). */
export class RerankAbortedError extends AbortedError {
  constructor(reason = 'rerank aborted') {
    super(reason);
  }
}

/**
 * A rerank job a worker failed (or that came back malformed): the worker's error code and field, as they crossed the
 * queue. The queue itself worked, so callers treat it as a failed rerank whatever the code says.
 */
export class RerankJobFailedError extends DotrankError {
  readonly jobId: string | undefined;
  constructor(failure: WireFailure, jobId?: string) {
    super(failure.code, failure.message, failure.field ? { field: failure.field } : {});
    this.jobId = jobId;
  }
}

/** withDeadline's options for a rerank: its deadline and signal, failing with the rerank errors above. */
export function rerankDeadline(opts: RerankOptions): DeadlineOptions {
  return {
    ...(opts.deadlineMs !== undefined ? { deadlineMs: opts.deadlineMs } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    onTimeout: (ms) => new RerankTimeoutError(ms),
    onAbort: (reason) =>
      new RerankAbortedError(reason instanceof Error ? reason.message : String(reason ?? 'rerank aborted')),
  };
}

/** No worker has refreshed its heartbeat lately (wire.ts): a job would only wait out its deadline. */
export class NoWorkersError extends DotrankError {
  constructor(queue: string) {
    super(
      'unavailable',
      `no rerank worker seen on queue ${queue} in the last few seconds (start one with: dotrank worker --model <dir>)`,
      { field: 'workers' },
    );
  }
}
