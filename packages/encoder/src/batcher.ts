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
 * while the session was busy runs together: under load, batches fill by themselves; an idle session waits at most
 * `waitMs`.
 */
export class MicroBatcher<I, O> {
  private pending: Waiting<I, O>[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** A task is already queued for the session: it will take what is pending when it starts. */
  private queued = false;

  constructor(
    private readonly options: BatcherOptions,
    private readonly run: (items: I[]) => Promise<O[]>,
    private readonly exclusive: (task: () => Promise<void>) => Promise<void>,
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (this.pending.length >= this.options.maxSize || this.options.waitMs <= 0) this.dispatch();
      else this.timer ??= setTimeout(() => this.dispatch(), this.options.waitMs);
    });
  }

  private dispatch(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.queued) return;
    this.queued = true;
    void this.exclusive(async () => {
      this.queued = false;
      const batch = this.pending.splice(0, this.options.maxSize);
      // more than one batch waiting: the rest goes in the next slot
      if (this.pending.length > 0) this.dispatch();
      if (batch.length === 0) return;
      try {
        const out = await this.run(batch.map((w) => w.item));
        batch.forEach((w, i) => w.resolve(out[i]!));
      } catch (error) {
        batch.forEach((w) => w.reject(error));
      }
    });
  }
}
