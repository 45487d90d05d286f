import { DotrankError, ValidationError } from './errors.js';

/** Work that did not finish before its deadline (code 'timeout', field 'deadlineMs'). */
export class DeadlineError extends DotrankError {
  readonly deadlineMs: number;
  constructor(deadlineMs: number, problem = `did not finish within ${deadlineMs} ms`) {
    super('timeout', problem, { field: 'deadlineMs' });
    this.deadlineMs = deadlineMs;
  }
}

/** Work cancelled through its caller's AbortSignal (code 'unavailable': the caller went away). */
export class AbortedError extends DotrankError {
  constructor(reason = 'aborted') {
    super('unavailable', reason, { field: 'signal' });
  }
}

export interface DeadlineOptions {
  /** Give up after this many ms; absent = no deadline. Must be > 0. */
  deadlineMs?: number;
  /** The caller's signal: aborting it settles the call at once. */
  signal?: AbortSignal;
  /** The error a passed deadline rejects with (default DeadlineError). */
  onTimeout?: (deadlineMs: number) => Error;
  /** The error an abort rejects with, given the signal's reason (default AbortedError). */
  onAbort?: (reason: unknown) => Error;
}

const reasonText = (reason: unknown): string =>
  reason instanceof Error ? reason.message : String(reason ?? 'aborted');

/**
 * Runs `work` so that the caller is answered on time: the promise settles by the deadline (or the caller's abort)
 * whatever the work does. The work gets a signal that aborts at that moment, with the rejecting error as its reason,
 * so it can stop at its next checkpoint (`signal.throwIfAborted()`); its own late outcome is ignored.
 */
export async function withDeadline<T>(
  work: (signal: AbortSignal) => Promise<T>,
  options: DeadlineOptions = {},
): Promise<T> {
  const { deadlineMs, signal } = options;
  if (deadlineMs !== undefined && !(deadlineMs > 0)) throw new ValidationError('deadlineMs', 'must be > 0');
  const abortError = () => options.onAbort?.(signal?.reason) ?? new AbortedError(reasonText(signal?.reason));
  if (signal?.aborted) throw abortError();
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  const stopped = new Promise<never>((_, reject) => {
    const stop = (error: Error) => {
      controller.abort(error);
      reject(error);
    };
    if (deadlineMs !== undefined) {
      timer = setTimeout(() => stop(options.onTimeout?.(deadlineMs) ?? new DeadlineError(deadlineMs)), deadlineMs);
    }
    if (signal) {
      onAbort = () => stop(abortError());
      signal.addEventListener('abort', onAbort, { once: true });
    }
  });
  const running = work(controller.signal);
  running.catch(() => undefined); // settled late, after the caller has its answer
  try {
    return await Promise.race([running, stopped]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}
