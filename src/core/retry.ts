/**
 * Main thread, shared by the front and every engine: a request's retry
 * policy, checked, and what it decides — whether a failed attempt is tried
 * again, and after how long.
 *
 * @module
 */

import {
  PoolClosedError,
  RetryError,
  TaskError,
  TaskTimeoutError,
  WorkerLostError,
} from "./errors.ts";
import type { ResolvedTask } from "./task.ts";

/** A request's retry policy, checked (see `RetryOptions`). */
export interface Retry {
  /** Attempts in all, the first included. */
  readonly attempts: number;
  /** Milliseconds before the second attempt. */
  readonly delay: number;
  /** The same delay each time, or doubled each time. */
  readonly backoff: "fixed" | "exponential";
  /** The longest delay. */
  readonly maxDelay: number;
  /** The share of each delay that is random, 0 to 1. */
  readonly jitter: number;
  /** Whether a timed-out attempt is tried again. */
  readonly timeouts: boolean;
  /** Decides instead of the default kinds; undefined: the defaults. */
  readonly retryOn: ((error: unknown, attempt: number) => boolean) | undefined;
}

/**
 * Whether an attempt that failed with `error` (the `attempt`-th) is tried
 * again, attempts left aside. A closed pool never is, and a cancellation
 * never reaches here. A `retryOn` that throws says no (its error is
 * reported, as an event listener's would be).
 */
export function retryable(retry: Retry, error: unknown, attempt: number): boolean {
  if (error instanceof PoolClosedError) return false;
  if (retry.retryOn !== undefined) {
    try {
      return retry.retryOn(error, attempt) === true;
    } catch (thrown) {
      reportError(thrown);
      return false;
    }
  }
  return error instanceof TaskError || error instanceof WorkerLostError ||
    (retry.timeouts && error instanceof TaskTimeoutError);
}

/** Milliseconds to wait before the next attempt, after `failed` attempts failed. */
export function retryDelay(retry: Retry, failed: number): number {
  const base = retry.backoff === "fixed" ? retry.delay : retry.delay * 2 ** (failed - 1);
  return Math.min(base, retry.maxDelay) * (1 - retry.jitter * Math.random());
}

/** The error a request of `task` fails with after several attempts: each one's `errors`, the last its cause. */
export function retryError(task: ResolvedTask, errors: unknown[]): RetryError {
  const error = errors.at(-1);
  const last = error instanceof Error ? error.message : String(error);
  return new RetryError(
    errors,
    `Task "${task.name}" of ${task.href} failed ${errors.length} attempts; the last: ${last}`,
  );
}
