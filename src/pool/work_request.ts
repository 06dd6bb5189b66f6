/**
 * Main thread, the front: one call to run on the pool, in the shape threadpool.py users know.
 *
 * @module
 */

import { NO_TRANSFER } from "../core/job.ts";
import type { CancelOptions, RetryOptions } from "./options.ts";
import type { MapInput, TaskFunction, TaskSpec } from "../core/task.ts";
import {
  argumentList,
  callback as checkCallback,
  cancelLimits,
  iterable,
  optionsArgument,
  quote,
  retryOption,
  transferList,
} from "./validate.ts";

/**
 * A request's id: unique by default, or whatever the caller chose.
 *
 * @example Your own ids
 * ```ts
 * import { type RequestID, WorkRequest } from "@scope/threadpool";
 * import { equal } from "node:assert/strict";
 *
 * const source = "export function add(a, b) { return a + b; }";
 * const module = `data:text/javascript,${encodeURIComponent(source)}`;
 *
 * const id: RequestID = "invoice-42";
 * const request = new WorkRequest({ module, name: "add" }, [1, 2], { requestID: id });
 * equal(request.requestID, "invoice-42");
 * ```
 */
export type RequestID = string | number;

/**
 * Called on the thread that polls, with the request and its result.
 *
 * @example A typed callback
 * ```ts
 * import { type Callback, ThreadPool, WorkRequest } from "@scope/threadpool";
 * import { deepEqual } from "node:assert/strict";
 *
 * const source = "export function add(a, b) { return a + b; }";
 * const module = `data:text/javascript,${encodeURIComponent(source)}`;
 *
 * const sums: number[] = [];
 * const callback: Callback<number> = (_request, sum) => sums.push(sum);
 * await using pool = new ThreadPool(1);
 * await pool.putRequest(new WorkRequest({ module, name: "add" }, [1, 2], { callback }));
 * await pool.wait();
 * deepEqual(sums, [3]);
 * ```
 */
export type Callback<R = unknown> = {
  // A method's parameters are compared both ways, so a request typed by its
  // task (WorkRequest<number>) still fits a plain WorkRequest[].
  method(request: WorkRequest, result: R): unknown;
}["method"];

/**
 * Called on the thread that polls, with the request and its error.
 *
 * @example Collecting errors instead of printing them
 * ```ts
 * import { type ExcCallback, TaskError, ThreadPool, WorkRequest } from "@scope/threadpool";
 * import { ok } from "node:assert/strict";
 *
 * const source = "export function add(a, b) { return a + b; }";
 * const module = `data:text/javascript,${encodeURIComponent(source)}`;
 *
 * const errors: Error[] = [];
 * const excCallback: ExcCallback = (_request, error) => errors.push(error);
 * await using pool = new ThreadPool(1);
 * await pool.putRequest(new WorkRequest({ module, name: "missing" }, [], { excCallback }));
 * await pool.wait();
 * ok(errors[0] instanceof TaskError);
 * ```
 */
export type ExcCallback = {
  method(request: WorkRequest, error: Error): unknown;
}["method"];

/**
 * Called on the thread that polls, with the request and the latest progress
 * report its task made (with `progress()` from `@scope/threadpool/task`).
 *
 * @example A progress line
 * ```ts
 * import { type ProgressCallback, ThreadPool, WorkRequest } from "@scope/threadpool";
 * import { ok } from "node:assert/strict";
 *
 * const source = "export function add(a, b) { return a + b; }";
 * const module = `data:text/javascript,${encodeURIComponent(source)}`;
 *
 * const seen: unknown[] = [];
 * const progressCallback: ProgressCallback = (request, value) => seen.push(value);
 * await using pool = new ThreadPool(1);
 * await pool.putRequest(new WorkRequest({ module, name: "add" }, [1, 2], { progressCallback }));
 * await pool.wait();
 * ok(seen.length === 0); // add reports no progress
 * ```
 */
export type ProgressCallback = {
  method(request: WorkRequest, value: unknown): unknown;
}["method"];

/**
 * Options for {@linkcode WorkRequest}.
 *
 * @example A request with its id, callbacks and a timeout
 * ```ts
 * import { ThreadPool, WorkRequest, type WorkRequestOptions } from "@scope/threadpool";
 * import { equal } from "node:assert/strict";
 *
 * const source = "export function add(a, b) { return a + b; }";
 * const module = `data:text/javascript,${encodeURIComponent(source)}`;
 *
 * let answer = 0;
 * const options: WorkRequestOptions<number> = {
 *   requestID: 7,
 *   callback: (_, sum) => answer = sum,
 *   excCallback: (_, error) => console.error(error),
 *   timeout: 5_000,
 * };
 * await using pool = new ThreadPool(1);
 * await pool.putRequest(new WorkRequest({ module, name: "add" }, [20, 22], options));
 * await pool.wait();
 * equal(answer, 42);
 * ```
 */
export interface WorkRequestOptions<R = unknown> extends CancelOptions {
  /**
   * The request's id.
   *
   * @default {a number unique in this process}
   */
  requestID?: RequestID;
  /**
   * Called with the result when the request succeeds.
   *
   * @default {undefined: the result is dropped}
   */
  callback?: Callback<R> | null;
  /**
   * Called with the error when the request fails. `null` drops errors on
   * purpose (the ancestor instead passed them to `callback`, which could not
   * tell them from results).
   *
   * @default {prints the request id and the error's stack to stderr}
   */
  excCallback?: ExcCallback | null;
  /**
   * Called during `poll()`/`wait()` with the latest progress report of the
   * task, before its result; reports made while nobody polls are replaced by
   * newer ones.
   *
   * @default {undefined: the task's reports are not sent}
   */
  progressCallback?: ProgressCallback | null;
  /**
   * Objects in the arguments to transfer, not copy, to the worker.
   *
   * @default {[]}
   */
  transfer?: Transferable[];
}

/**
 * The task a {@linkcode WorkRequest} may call: a typed task whose arguments
 * are `A` and whose result is `R` (or a promise of it), or a task whose type
 * is not known.
 *
 * @typeParam R The result type.
 * @typeParam A The argument list.
 *
 * @example A typed task fits; its result type is inferred
 * ```ts
 * import { type TaskOf, type TaskSpec, WorkRequest } from "@scope/threadpool";
 * import { equal } from "node:assert/strict";
 *
 * const add = { module: "file:///tasks.ts", name: "add" } as TaskSpec<
 *   (a: number, b: number) => Promise<number>
 * >;
 * const task: TaskOf<number, [number, number]> = add;
 * const request = new WorkRequest(task, [1, 2], { callback: (_, sum) => sum.toFixed() });
 * equal(request.args.length, 2);
 * ```
 */
export type TaskOf<R, A extends readonly unknown[]> =
  | TaskSpec<(...args: A) => R | PromiseLike<R>>
  | TaskSpec<TaskFunction>;

/**
 * Requests a pool has taken (or is taking) and that cannot be put again.
 * Module-private to the package: `mod.ts` does not export it.
 */
export const takenRequests: WeakSet<object> = new WeakSet();

let lastID = 0;

/**
 * Prints a failed request's id and error to stderr: the default
 * `excCallback`, as in threadpool.py.
 *
 * @param request The request that failed.
 * @param error Its error.
 *
 * @example The default excCallback
 * ```ts
 * import { printException, ThreadPool, WorkRequest } from "@scope/threadpool";
 * import { equal, match } from "node:assert/strict";
 *
 * const source = "export function add(a, b) { return a + b; }";
 * const module = `data:text/javascript,${encodeURIComponent(source)}`;
 *
 * const request = new WorkRequest({ module, name: "missing" }, [], {
 *   excCallback: printException, // what the ancestor did: print and go on
 * });
 * // Catch what it prints, to check it (and keep it out of the test output).
 * const printed: unknown[][] = [];
 * const print = console.error;
 * console.error = (...line: unknown[]) => printed.push(line);
 * try {
 *   await using pool = new ThreadPool(1);
 *   await pool.putRequest(request);
 *   await pool.wait();
 * } finally {
 *   console.error = print;
 * }
 * equal(request.exception, true);
 * match(String(printed[0]?.[0]), /^Exception in request #\d+:$/);
 * ```
 */
export function printException(request: WorkRequest, error: Error): void {
  console.error(`Exception in request #${request.requestID}:`, error);
}

/**
 * One call of a task, put on a pool with {@linkcode ThreadPool.putRequest};
 * its callbacks run during {@linkcode ThreadPool.poll} or
 * {@linkcode ThreadPool.wait}.
 *
 * @typeParam R The task's result type: inferred from a typed task (see
 * {@linkcode taskModule}), which also checks the arguments; given by hand for
 * a task whose type is not known.
 * @typeParam A The task's argument list.
 *
 * @example Usage
 * ```ts
 * import { WorkRequest } from "@scope/threadpool";
 * import { equal } from "node:assert/strict";
 *
 * const request = new WorkRequest({ module: "file:///tasks.ts", name: "add" }, [1, 2], {
 *   requestID: "sum",
 * });
 * equal(request.requestID, "sum");
 * equal(request.exception, false);
 * ```
 */
// deno-lint-ignore no-explicit-any
export class WorkRequest<R = unknown, A extends readonly unknown[] = any[]> {
  /** The request's id. */
  readonly requestID: RequestID;
  /** The task to call. */
  readonly task: TaskSpec;
  /** The arguments to call it with. */
  readonly args: readonly unknown[];
  /** Called with the result on success, if set. */
  readonly callback: Callback<R> | null;
  /** Called with the error on failure, if set. */
  readonly excCallback: ExcCallback | null;
  /** Called with the task's latest progress report, if set. */
  readonly progressCallback: ProgressCallback | null;
  /** What to transfer rather than copy. */
  readonly transfer: readonly Transferable[];
  /** Cancels the request when it aborts. */
  readonly signal: AbortSignal | undefined;
  /** Milliseconds the task may run, from its start. */
  readonly timeout: number | undefined;
  /** Higher starts first; undefined: the pool's default. */
  readonly priority: number | undefined;
  /** How a failed attempt is tried again; undefined: the pool's default. */
  readonly retry: RetryOptions | undefined;
  /** The rate limit it starts under besides the pool's own (checked when it is put). */
  readonly rateKey: string | undefined;
  /** `true` once the request has failed, `false` otherwise. */
  exception = false;

  /**
   * Creates a request; nothing runs until it is put on a pool.
   *
   * @param task The task to call.
   * @param args Its arguments. The list is copied here (the array may be
   * reused at once); the values in it are copied when the request is sent to
   * a worker.
   * @param options The id, the callbacks and the transfer list.
   * @throws {TypeError} When `args` is not an array, or an option has the wrong type.
   * @throws {RangeError} When `timeout` is negative or NaN, or `priority` out of range.
   */
  constructor(
    task: TaskOf<R, A>,
    args: NoInfer<A> = [] as unknown as A,
    options: WorkRequestOptions<NoInfer<R>> = {},
  ) {
    const action = "make a request";
    const checked = optionsArgument(action, "options", options);
    const { requestID } = checked;
    if (requestID !== undefined && typeof requestID !== "string" && typeof requestID !== "number") {
      throw new TypeError(
        `Cannot ${action} as 'requestID' must be a string or a number: current value is ${
          quote(requestID)
        }`,
      );
    }
    checkCallback(action, "callback", checked.callback);
    checkCallback(action, "excCallback", checked.excCallback);
    checkCallback(action, "progressCallback", checked.progressCallback);
    cancelLimits(action, checked);
    const { signal, timeout } = checked;
    this.requestID = requestID ?? ++lastID;
    this.task = task;
    this.args = argumentList(action, "args", args);
    this.callback = checked.callback ?? null;
    this.excCallback = checked.excCallback === undefined ? printException : checked.excCallback;
    this.progressCallback = checked.progressCallback ?? null;
    this.transfer = transferList(action, checked.transfer, NO_TRANSFER);
    this.signal = signal;
    this.timeout = timeout;
    this.priority = checked.priority;
    retryOption(action, checked.retry);
    this.retry = checked.retry;
    if (checked.rateKey !== undefined && typeof checked.rateKey !== "string") {
      throw new TypeError(
        `Cannot ${action} as 'rateKey' must be a string: current value is ${
          quote(checked.rateKey)
        }`,
      );
    }
    this.rateKey = checked.rateKey;
  }
}

/**
 * Makes one request per item of `argsList`, as threadpool.py's
 * `makeRequests`: an array item is spread as the argument list, any other
 * item is the single argument.
 *
 * @param task The task every request calls.
 * @param argsList One item per request.
 * @param callback Called with each result.
 * @param excCallback Called with each error; `null` drops errors.
 * @returns The requests, in the order of `argsList`.
 *
 * @example Usage
 * ```ts
 * import { makeRequests } from "@scope/threadpool";
 * import { deepEqual } from "node:assert/strict";
 *
 * const task = { module: "file:///tasks.ts", name: "add" };
 * const requests = makeRequests(task, [[1, 2], 3]);
 * deepEqual(requests.map((r) => r.args), [[1, 2], [3]]);
 * ```
 */
// deno-lint-ignore no-explicit-any
export function makeRequests<R = unknown, A extends readonly unknown[] = any[]>(
  task: TaskOf<R, A>,
  argsList: Iterable<MapInput<TaskSpec<(...args: A) => unknown>>>,
  callback?: Callback<NoInfer<R>> | null,
  excCallback?: ExcCallback | null,
): WorkRequest<R, A>[] {
  const options: WorkRequestOptions<R> = {};
  if (callback !== undefined) options.callback = callback;
  if (excCallback !== undefined) options.excCallback = excCallback;
  const requests: WorkRequest<R, A>[] = [];
  for (const item of iterable("make requests", "argsList", argsList, false)) {
    const args = (Array.isArray(item) ? item : [item]) as unknown as A;
    requests.push(new WorkRequest<R, A>(task, args, options));
  }
  return requests;
}
