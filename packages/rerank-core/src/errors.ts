import { DotrankError } from '@dotrank/core';

/** A rerank that did not finish before its deadline (code 'timeout'). */
export class RerankTimeoutError extends DotrankError {
  readonly deadlineMs: number;
  constructor(deadlineMs: number, problem = `rerank did not finish within ${deadlineMs} ms`) {
    super('timeout', problem, { field: 'deadlineMs' });
    this.deadlineMs = deadlineMs;
  }
}

/** A rerank cancelled through its AbortSignal (code 'unavailable': the caller went away). */
export class RerankAbortedError extends DotrankError {
  constructor(reason = 'rerank aborted') {
    super('unavailable', reason, { field: 'signal' });
  }
}
