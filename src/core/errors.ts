/**
 * Main thread, shared by the front and every engine: the errors a caller of the pool is expected to catch, one class per
 * condition so that `instanceof` tells them apart. Bad arguments are not
 * here: they are reported with the built-in `TypeError` and `RangeError`.
 *
 * @module
 */

/**
 * Thrown by {@linkcode ThreadPool.poll} when no request is pending: none was
 * ever put, or every one has already been handed to its callback.
 *
 * @example Usage
 * ```ts
 * import { NoResultsPending, ThreadPool } from "@scope/threadpool";
 * import { rejects } from "node:assert/strict";
 *
 * await using pool = new ThreadPool(0);
 * await rejects(pool.poll(), NoResultsPending);
 * ```
 */
export class NoResultsPending extends Error {
  /** Creates the error; the message says that nothing is pending. */
  constructor(message = "No results pending", options?: ErrorOptions) {
    super(message, options);
    this.name = "NoResultsPending";
  }
}

/**
 * Thrown by a blocking {@linkcode ThreadPool.poll} (and so by
 * {@linkcode ThreadPool.wait}) when requests are pending but no worker is
 * left to run them.
 *
 * @example Usage
 * ```ts
 * import { NoWorkersAvailable } from "@scope/threadpool";
 * import { equal } from "node:assert/strict";
 *
 * equal(new NoWorkersAvailable().name, "NoWorkersAvailable");
 * ```
 */
export class NoWorkersAvailable extends Error {
  /** Creates the error; the message says that no worker is alive. */
  constructor(message = "No workers available", options?: ErrorOptions) {
    super(message, options);
    this.name = "NoWorkersAvailable";
  }
}

/**
 * A task threw or rejected inside its worker. `message` and `stack` are the
 * task's own; `cause` is the original error rebuilt on this thread, with its
 * `name`, `message`, `stack` and `cause`.
 *
 * @example Usage
 * ```ts
 * import { TaskError } from "@scope/threadpool";
 * import { equal } from "node:assert/strict";
 *
 * const error = new TaskError("boom", { cause: new RangeError("boom") });
 * equal(error.name, "TaskError");
 * equal((error.cause as Error).name, "RangeError");
 * ```
 */
export class TaskError extends Error {
  /** When the request was a `map()` input's: that input's place. */
  declare index?: number;
  /** Creates the error for a task that failed with `cause`. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TaskError";
  }
}

/**
 * The worker that was running a request died before it answered: an
 * uncaught error, an unhandled rejection, `Deno.exit()`, `self.close()`, a
 * message that could not be read, or a worker that could not start. `cause`
 * says which. Requests that worker had only been handed are not failed: they
 * go back to the queue.
 *
 * @example Usage
 * ```ts
 * import { WorkerLostError } from "@scope/threadpool";
 * import { equal } from "node:assert/strict";
 *
 * equal(new WorkerLostError("gone").name, "WorkerLostError");
 * ```
 */
export class WorkerLostError extends Error {
  /** When the request was a `map()` input's: that input's place. */
  declare index?: number;
  /** Creates the error; `cause` describes how the worker died. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WorkerLostError";
  }
}

/**
 * The pool is closed: it takes no new request, and `close({ force: true })`
 * fails every request still pending with this error.
 *
 * @example Usage
 * ```ts
 * import { PoolClosedError, ThreadPool } from "@scope/threadpool";
 * import { throws } from "node:assert/strict";
 *
 * const pool = new ThreadPool(0);
 * await pool.close();
 * throws(() => pool.createWorkers(1), PoolClosedError);
 * ```
 */
export class PoolClosedError extends Error {
  /** When the request was a `map()` input's: that input's place. */
  declare index?: number;
  /** Creates the error; the message names the call that was refused. */
  constructor(message = "The pool is closed", options?: ErrorOptions) {
    super(message, options);
    this.name = "PoolClosedError";
  }
}

/**
 * The request queue is full (`maxQueue`) and the caller asked not to wait
 * (`block: false`) or waited longer than its `timeout`.
 *
 * @example Usage
 * ```ts
 * import { QueueFullError } from "@scope/threadpool";
 * import { equal } from "node:assert/strict";
 *
 * equal(new QueueFullError().name, "QueueFullError");
 * ```
 */
export class QueueFullError extends Error {
  /** Creates the error; the message says how full the queue was. */
  constructor(message = "The request queue is full", options?: ErrorOptions) {
    super(message, options);
    this.name = "QueueFullError";
  }
}

/**
 * A task ran longer than its `timeout`. The clock starts when the task
 * starts, not when it is queued. The task is told through its
 * `taskSignal()`; if it does not stop within the pool's `cancelGrace`, its
 * worker is terminated and replaced.
 *
 * @example Usage
 * ```ts
 * import { TaskTimeoutError } from "@scope/threadpool";
 * import { equal } from "node:assert/strict";
 *
 * equal(new TaskTimeoutError("slow").name, "TaskTimeoutError");
 * ```
 */
export class TaskTimeoutError extends Error {
  /** When the request was a `map()` input's: that input's place. */
  declare index?: number;
  /** Creates the error; the message names the task and its timeout. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TaskTimeoutError";
  }
}

/**
 * A request with a `retry` policy failed on its last attempt, after more
 * than one: `attempts` says how many were made, `errors` holds each
 * attempt's error in order, and `cause` is the last of them.
 *
 * @example Usage
 * ```ts
 * import { RetryError } from "@scope/threadpool";
 * import { equal } from "node:assert/strict";
 *
 * const error = new RetryError([new Error("first"), new Error("second")], "failed twice");
 * equal(error.attempts, 2);
 * equal((error.cause as Error).message, "second");
 * ```
 */
export class RetryError extends AggregateError {
  /** How many attempts were made. */
  readonly attempts: number;
  /** When the request was a `map()` input's: that input's place. */
  declare index?: number;
  /** Creates the error of `errors`, one per attempt, the last its cause. */
  constructor(errors: unknown[], message: string) {
    super(errors, message, { cause: errors.at(-1) });
    this.name = "RetryError";
    this.attempts = errors.length;
  }
}

/** The flag that lets workers have their own permissions, as Deno spells it. */
export const WORKER_OPTIONS_FLAG = "--unstable-worker-options";
const FLAG = WORKER_OPTIONS_FLAG;

/**
 * Thrown by `new ThreadPool()` when the `permissions` option is used but Deno
 * does not run with `--unstable-worker-options`, or the pool cannot see that
 * it does. Without this check Deno would end the process (exit code 70) when
 * the pool starts its first worker.
 *
 * @example Usage
 * ```ts
 * import { UnstableFlagError } from "@scope/threadpool";
 * import { equal, match } from "node:assert/strict";
 *
 * const error = new UnstableFlagError(false, "Deno was started without it");
 * equal(error.name, "UnstableFlagError");
 * match(error.message, /--unstable-worker-options/);
 * match(error.message, /"unstable": \["worker-options"\]/);
 * ```
 */
export class UnstableFlagError extends TypeError {
  /** The flag that is missing. */
  readonly flag: string = FLAG;
  /** Where the pool looked for the setting, in words. */
  readonly detail: string;

  /**
   * Creates the error.
   *
   * @param enabled `false` when the flag is known to be off, `undefined` when the pool cannot tell.
   * @param how Where the pool looked: for a flag known to be off, the message says it.
   * @param options The error's cause.
   */
  constructor(enabled: boolean | undefined, how: string, options?: ErrorOptions) {
    const setting = `"unstable": ["worker-options"]`;
    super(
      enabled === false
        ? `The 'permissions' option needs Deno's ${FLAG} flag, but ${how}. Run Deno with ` +
          `${FLAG}, or add ${setting} to deno.json (without it Deno would exit with code 70).`
        : `The 'permissions' option needs ${FLAG}, and the pool cannot tell whether it is on ` +
          `(it reads the command line only with --allow-all). If you passed the flag, pass ` +
          `unstableWorkerOptions: true to the pool; if not, run Deno with it, or add ${setting} ` +
          `to deno.json.`,
      options,
    );
    this.name = "UnstableFlagError";
    this.detail = how;
    // One line: a stack would only point into the pool, not at the fix.
    this.stack = `${this.name}: ${this.message}`;
  }
}
