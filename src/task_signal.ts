/**
 * The task's side of cancellation: what a task function calls to learn that
 * the pool no longer wants its result (aborted, or timed out).
 *
 * @module
 */

import { flagged, workerContext } from "./task_context.ts";

const nativeAborted = Object.getOwnPropertyDescriptor(AbortSignal.prototype, "aborted")!.get!;

/**
 * Returns the running task's cancellation signal. Call it in the task's
 * synchronous part (before its first `await`): the worker knows which task
 * is running only then.
 *
 * The signal fires `abort` when the pool cancels the task, for async code.
 * Its `aborted` and `throwIfAborted()` also read a flag in memory shared with
 * the pool, so a synchronous CPU loop sees the cancellation without yielding
 * to the event loop. A task that stops soon after is not terminated.
 *
 * @returns The signal.
 * @throws {Error} When not called from a task running on a pool worker.
 *
 * @example A cooperative CPU loop
 * ```ts ignore
 * import { taskSignal } from "@scope/threadpool/task";
 *
 * export function search(limit: number): number {
 *   const signal = taskSignal();
 *   let i = 0;
 *   while (i < limit && !signal.aborted) i++;
 *   signal.throwIfAborted();
 *   return i;
 * }
 * ```
 */
export function taskSignal(): AbortSignal {
  const context = workerContext();
  const task = context?.current;
  if (context === undefined || task === null || task === undefined) {
    throw new Error(
      "taskSignal() must be called by a task running on a ThreadPool worker, before its first await",
    );
  }
  if (task.controller !== null) return task.controller.signal;
  const controller = new AbortController();
  task.controller = controller;
  if (task.reason !== null) controller.abort(task.reason);
  const { signal } = controller;
  const cancelled = () => nativeAborted.call(signal) || flagged(context, task);
  Object.defineProperties(signal, {
    aborted: { get: cancelled },
    throwIfAborted: {
      value() {
        if (nativeAborted.call(signal)) throw signal.reason;
        if (flagged(context, task)) {
          throw new DOMException("The pool cancelled the task", "AbortError");
        }
      },
    },
  });
  return signal;
}
