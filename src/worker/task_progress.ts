/**
 * Worker thread, for task modules: a running task's progress, reported to
 * whoever called it (`run()`'s `onProgress`, a `WorkRequest`'s
 * `progressCallback`).
 *
 * @module
 */

import { ownerOf, running } from "./task_signal.ts";

/**
 * Reports the running task's progress to its caller: any structured-clonable
 * value (a fraction, a count, a status object). It never blocks the task: a
 * report leaves at once if the caller has taken the one before, else it
 * waits, and a newer report replaces it. So a caller slower than the task
 * gets the latest value, never a backlog; the last report arrives before the
 * result. Nothing is sent when the caller does not listen, and outside any
 * pool's worker (a task function called directly) it does nothing.
 *
 * @param value What to report.
 * @param signal The signal from `taskSignal()`, to report after an `await`;
 * without it, reports for the task whose synchronous code is running.
 * @throws {Error} When called without a signal on a pool worker outside a task's synchronous part.
 * @throws {DOMException} When `value` cannot be cloned (`DataCloneError`).
 *
 * @example A task that reports how far it got
 * ```ts ignore
 * import { progress } from "@scope/threadpool/task";
 *
 * export function sum(values: number[]): number {
 *   let total = 0;
 *   values.forEach((value, i) => {
 *     total += value;
 *     if (i % 1_000 === 0) progress(i / values.length);
 *   });
 *   return total;
 * }
 * ```
 */
export function progress(value: unknown, signal?: AbortSignal): void {
  const found = signal === undefined ? running("progress()") : ownerOf(signal);
  if (found === null || found === undefined) return;
  const [context, task] = found;
  context.progress(task, value);
}
