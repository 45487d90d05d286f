import { describe, expect, it } from 'vitest';
import { AbortedError, DeadlineError, withDeadline } from '../src/deadline.js';
import { ValidationError } from '../src/errors.js';

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => resolve('done'), ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    });
  });

describe('withDeadline', () => {
  it('returns the work result when it finishes in time, with or without a deadline', async () => {
    expect(await withDeadline((signal) => sleep(5, signal), { deadlineMs: 1000 })).toBe('done');
    expect(await withDeadline(() => sleep(5))).toBe('done');
  });

  it('rejects at the deadline with a timeout error and aborts the work with that same error', async () => {
    let seen: unknown;
    const started = Date.now();
    const error = await withDeadline(
      (signal) => {
        signal.addEventListener('abort', () => (seen = signal.reason));
        return sleep(10_000);
      },
      { deadlineMs: 30 },
    ).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(error).toBeInstanceOf(DeadlineError);
    expect(error).toMatchObject({
      code: 'timeout',
      field: 'deadlineMs',
      message: 'deadlineMs: did not finish within 30 ms',
    });
    expect(seen).toBe(error);
  });

  it('uses the caller’s error factories', async () => {
    class Late extends Error {}
    await expect(
      withDeadline(() => sleep(10_000), { deadlineMs: 10, onTimeout: (ms) => new Late(`late after ${ms}`) }),
    ).rejects.toThrow(Late);
    const controller = new AbortController();
    const pending = withDeadline(() => sleep(10_000), {
      signal: controller.signal,
      onAbort: (r) => new Late(String(r)),
    });
    controller.abort('gone');
    await expect(pending).rejects.toThrow('gone');
  });

  it('settles at once when the caller aborts (before or during the work)', async () => {
    const controller = new AbortController();
    const pending = withDeadline((signal) => sleep(10_000, signal), { deadlineMs: 60_000, signal: controller.signal });
    controller.abort('client went away');
    const error = await pending.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortedError);
    expect(error).toMatchObject({ code: 'unavailable', message: 'signal: client went away' });
    let ran = false;
    await expect(withDeadline(async () => (ran = true), { signal: controller.signal })).rejects.toBeInstanceOf(
      AbortedError,
    );
    expect(ran).toBe(false);
  });

  it('passes the work’s own failure through and refuses a deadline that is not positive', async () => {
    await expect(withDeadline(() => Promise.reject(new Error('boom')), { deadlineMs: 1000 })).rejects.toThrow('boom');
    await expect(withDeadline(() => sleep(1), { deadlineMs: 0 })).rejects.toThrow(ValidationError);
  });
});
