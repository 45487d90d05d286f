import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { describeError } from '@dotrank/core';
import { bounded } from './connections.js';
import { replyChannel, type QueueNames } from './wire.js';

/** Where a reply goes: the columns of a job (its return value, not yet checked). */
type ReplyWaiter = (columns: unknown) => void;

/**
 * A producer's direct replies (wire.ts): one subscription to its own reply channel, on a connection of its own, where
 * workers publish each job's columns the moment they have them. A reply does not wait for BullMQ to move the job to
 * completed and for the queue's events stream to carry the news (a millisecond or more per rerank, several at 1,000
 * candidates). The events stream stays the fallback: a reply that never comes (the subscription was down, a worker
 * without publish rights) still arrives as the job's `completed` event.
 */
export class DirectReplies {
  /** The id jobs carry as `replyTo`. */
  readonly id = randomUUID();
  private readonly channel: string;
  private readonly waiters = new Map<string, ReplyWaiter>();
  private subscribing: Promise<void> | undefined;
  private subscribed = false;
  private failure: string | undefined;

  constructor(
    private readonly subscriber: Redis,
    names: QueueNames,
  ) {
    this.channel = replyChannel(names, this.id);
    subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.channel) this.deliver(message);
    });
  }

  /**
   * Subscribes (once); never rejects: a refused subscription (an ACL without the channel) leaves direct replies off,
   * `unavailable` says why, and results come through the events stream as before.
   */
  start(): Promise<void> {
    this.subscribing ??= this.subscriber.subscribe(this.channel).then(
      () => {
        this.subscribed = true;
      },
      (error: unknown) => {
        this.failure = `could not subscribe to ${this.channel}: ${describeError(error)}`;
      },
    );
    return this.subscribing;
  }

  /** Whether jobs may ask for a direct reply now (subscribed; ioredis subscribes again by itself after a reconnect). */
  get active(): boolean {
    return this.subscribed && this.subscriber.status === 'ready';
  }

  /** Why direct replies are off, when a subscription was refused. */
  get unavailable(): string | undefined {
    return this.failure;
  }

  /** Hands the next reply for `jobId` to `waiter` (registered before the job is added: no reply can come first). */
  expect(jobId: string, waiter: ReplyWaiter): void {
    this.waiters.set(jobId, waiter);
  }

  forget(jobId: string): void {
    this.waiters.delete(jobId);
  }

  /** A reply nobody waits for (a job retried elsewhere, a waiter gone) or one that is not ours is dropped. */
  private deliver(message: string): void {
    let reply: { job?: unknown; columns?: unknown };
    try {
      reply = JSON.parse(message) as typeof reply;
    } catch {
      return;
    }
    if (typeof reply?.job !== 'string') return;
    const waiter = this.waiters.get(reply.job);
    if (!waiter) return;
    this.waiters.delete(reply.job);
    waiter(reply.columns);
  }

  async close(): Promise<void> {
    this.waiters.clear();
    await bounded(
      this.subscriber.quit().catch(() => undefined),
      1000,
    );
    this.subscriber.disconnect();
  }
}
