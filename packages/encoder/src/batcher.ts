/** How concurrent single-query encodings are gathered into one inference call. */
export interface BatcherOptions {
  /** Most items per call (DOTRANK_QUERY_BATCH); 1 = no batching. */
  maxSize: number;
  /**
   * How long the first item of a batch waits for company (DOTRANK_BATCH_WAIT_MS). 0 = no waiting: a call still takes
   * every item that arrived while the previous one ran.
   */
  waitMs: number;
}

interface Waiting<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (error: unknown) => void;
}

/**
 * Gathers items submitted one by one into batches of at most `maxSize`. A batch is taken when its inference slot
 * comes up (`exclusive`, the encoder's one-call-at-a-time queue), not when it is scheduled, so whatever arrived
 * while the session was busy runs together: under load, batches fill by themselves.
 *
 * An idle session waits for company (at most `waitMs`) only while traffic is concurrent, i.e. the previous call
 * carried more than one item. Otherwise the item goes at the next turn of the event loop, taking only what arrived
 * in the same turn: a caller that never has company (a worker running one job at a time, a quiet API) would
 * otherwise pay the whole wait on every query (2-3 ms of a 12-20 ms encoding, measured in the worker benchmark).
 */
export class MicroBatcher<I, O> {
  private pending: Waiting<I, O>[] = [];
  /** Cancels the dispatch scheduled for the first pending item. */
  private cancelScheduled: (() => void) | undefined;
  /** A task is already queued for the session: it will take what is pending when it starts. */
  private queued = false;
  /** One of our calls is running: what arrives now goes in the next call anyway. */
  private running = false;
  /** Items in the last call: more than one means concurrent traffic, worth a wait for company. */
  private lastCallSize = 0;

  constructor(
    private readonly options: BatcherOptions,
    private readonly run: (items: I[]) => Promise<O[]>,
    private readonly exclusive: (task: () => Promise<void>) => Promise<void>,
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (this.pending.length >= this.options.maxSize || this.options.waitMs <= 0 || this.running) this.dispatch();
      else if (!this.cancelScheduled) this.cancelScheduled = this.schedule();
    });
  }

  /** The first pending item's dispatch: after `waitMs` when traffic is concurrent, else at the next turn. */
  private schedule(): () => void {
    if (this.lastCallSize > 1) {
      const timer = setTimeout(() => this.dispatch(), this.options.waitMs);
      return () => clearTimeout(timer);
    }
    const immediate = setImmediate(() => this.dispatch());
    return () => clearImmediate(immediate);
  }

  private dispatch(): void {
    this.cancelScheduled?.();
    this.cancelScheduled = undefined;
    if (this.queued) return;
    this.queued = true;
    void this.exclusive(async () => {
      this.queued = false;
      const batch = this.pending.splice(0, this.options.maxSize);
      // more than one batch waiting: the rest goes in the next slot
      if (this.pending.length > 0) this.dispatch();
      if (batch.length === 0) return;
      this.lastCallSize = batch.length;
      this.running = true;
      try {
        const out = await this.run(batch.map((w) => w.item));
        batch.forEach((w, i) => w.resolve(out[i]!));
      } catch (error) {
        batch.forEach((w) => w.reject(error));
      } finally {
        this.running = false;
      }
    });
  }
}
