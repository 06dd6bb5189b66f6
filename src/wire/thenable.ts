/**
 * Both threads: whether a value is a promise or another thenable, to be
 * awaited (a task's result on the worker, a callback's on the main thread).
 *
 * @module
 */

/** Whether `value` has a `then` method. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === "object" && value !== null &&
    typeof (value as { then?: unknown }).then === "function";
}
