import { DotrankError } from '@dotrank/core';

/** A rerank refused at once because its expected wait is longer than its deadline (degraded reason `overloaded`). */
export class OverloadedError extends DotrankError {
  readonly expectedWaitMs: number;
  constructor(expectedWaitMs: number, deadlineMs: number, inFlight: number) {
    super(
      'unavailable',
      `overloaded: ${inFlight} reranks ahead, expected wait ${Math.round(expectedWaitMs)} ms > deadline ${deadlineMs} ms`,
      { field: 'load' },
    );
    this.expectedWaitMs = expectedWaitMs;
  }
}

/** Completions remembered for the throughput estimate. */
const WINDOW = 64;

/**
 * Fast load shedding. Counts the reranks under way and measures the time between completions while busy (the
 * inverse of throughput, which already folds in workers, worker concurrency and query batching); the expected wait
 * of a new rerank is the reranks ahead of it, plus itself, times that interval. A rerank whose expected wait exceeds its deadline
 * is refused at once (OverloadedError) instead of waiting out the deadline, which would also keep the queue full of
 * work nobody waits for any more. Until enough completions were seen, or after an idle spell, nothing is refused.
 */
export class LoadShedder {
  private inFlight = 0;
  private lastCompletion: number | undefined;
  private readonly intervals: number[] = [];
  private next = 0;
  private sum = 0;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Reranks admitted and not finished. */
  get active(): number {
    return this.inFlight;
  }

  /** Mean time between completions while busy, ms (undefined before the first measurement). */
  get intervalMs(): number | undefined {
    return this.intervals.length >= 4 ? this.sum / this.intervals.length : undefined;
  }

  /** How long a rerank admitted now should take to come back: the reranks ahead of it and itself. */
  expectedWaitMs(): number {
    const interval = this.intervalMs;
    return interval === undefined ? 0 : (this.inFlight + 1) * interval;
  }

  /**
   * Admits one rerank, or throws OverloadedError when its expected wait exceeds `deadlineMs` (no deadline: always
   * admitted). Call the returned function once the work really ends (not when its caller stopped waiting), with
   * `completed` false for work that ended without doing its job (removed from the queue, failed at once).
   */
  admit(deadlineMs: number | undefined): (completed: boolean) => void {
    if (deadlineMs !== undefined) {
      const wait = this.expectedWaitMs();
      if (wait > deadlineMs) throw new OverloadedError(wait, deadlineMs, this.inFlight);
    }
    this.inFlight++;
    let done = false;
    return (completed) => {
      if (done) return;
      done = true;
      this.inFlight--;
      if (completed) this.completion();
    };
  }

  private completion(): void {
    const t = this.now();
    if (this.lastCompletion !== undefined) this.record(t - this.lastCompletion);
    // an idle spell is not service time: the next interval starts only if work is still under way
    this.lastCompletion = this.inFlight > 0 ? t : undefined;
  }

  private record(interval: number): void {
    if (this.intervals.length < WINDOW) this.intervals.push(interval);
    else {
      this.sum -= this.intervals[this.next]!;
      this.intervals[this.next] = interval;
      this.next = (this.next + 1) % WINDOW;
    }
    this.sum += interval;
  }
}
