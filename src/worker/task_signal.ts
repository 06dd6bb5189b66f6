/**
 * Worker thread, for task modules: the task's side of cancellation: what a task function calls to learn that
 * the pool no longer wants its result (aborted, or timed out).
 *
 * @module
 */

import { flagged, type RunningTask, type WorkerContext, workerContext } from "./task_context.ts";

const owners = new WeakMap<AbortSignal, [WorkerContext, RunningTask]>();

/** The signal of a task called outside any pool's worker: nothing cancels it. */
const NEVER = new AbortController().signal;

/**
 * The task whose synchronous part runs on this pool worker; `null` outside
 * any pool's worker (the main thread, a test), where a task function is
 * called directly and nothing can cancel it.
 */
export function running(what: string): [WorkerContext, RunningTask] | null {
  const context = workerContext();
  if (context === undefined) return null;
  const task = context.current;
  if (task === null) {
    throw new Error(
      `${what} must be called by a task running on a ThreadPool worker, in its synchronous part ` +
        "(or with the signal from taskSignal())",
    );
  }
  return [context, task];
}

/** The pool worker and task a signal from {@linkcode taskSignal} belongs to, if any. */
export function ownerOf(signal: AbortSignal): [WorkerContext, RunningTask] | undefined {
  return owners.get(signal);
}

/**
 * Returns the running task's cancellation signal: an ordinary `AbortSignal`
 * that aborts when the pool cancels the task (the caller aborted, or the
 * task timed out), for async code and for APIs such as `fetch`. Call it in
 * the task's synchronous part, before its first `await`: the worker knows
 * which task is running only then. Keep it to ask {@linkcode isCancelled}
 * later.
 *
 * A synchronous loop never lets the abort event in: use
 * {@linkcode isCancelled}, which reads memory shared with the pool.
 *
 * Called outside any pool's worker (a task function called directly, on
 * the main thread or in a test), it returns a signal that never aborts.
 *
 * @returns The task's signal.
 * @throws {Error} When called on a pool worker outside a task's synchronous part.
 *
 * @example An async task
 * ```ts ignore
 * import { taskSignal } from "@scope/threadpool/task";
 *
 * export async function download(url: string): Promise<string> {
 *   const response = await fetch(url, { signal: taskSignal() });
 *   return await response.text();
 * }
 * ```
 */
export function taskSignal(): AbortSignal {
  const found = running("taskSignal()");
  if (found === null) return NEVER;
  const [context, task] = found;
  if (task.controller === null) {
    task.controller = new AbortController();
    owners.set(task.controller.signal, [context, task]);
    if (task.reason !== null) task.controller.abort(task.reason);
  }
  return task.controller.signal;
}

/**
 * Whether the pool has cancelled the task. It reads a flag in memory shared
 * with the pool, so it is true as soon as the caller aborts or the timeout
 * passes, even inside a synchronous loop that never yields. A task that then
 * stops within the pool's `cancelGrace` keeps its worker.
 *
 * @param signal The signal from {@linkcode taskSignal}, to ask after an
 * `await`; without it, asks about the task whose synchronous code is running.
 * @returns Whether the task is cancelled: never, outside any pool's worker.
 * @throws {Error} When called without a signal on a pool worker outside a task's synchronous part.
 *
 * @example A cooperative CPU loop
 * ```ts ignore
 * import { isCancelled } from "@scope/threadpool/task";
 *
 * export function count(limit: number): number {
 *   let i = 0;
 *   while (i < limit && !isCancelled()) i++;
 *   return i;
 * }
 * ```
 */
export function isCancelled(signal?: AbortSignal): boolean {
  if (signal !== undefined) {
    const owner = owners.get(signal);
    return signal.aborted || (owner !== undefined && flagged(...owner));
  }
  const found = running("isCancelled()");
  if (found === null) return false;
  const [context, task] = found;
  return task.reason !== null || flagged(context, task);
}

/**
 * Throws if the pool has cancelled the task: the signal's reason once the
 * abort event has arrived, else an `AbortError` `DOMException`.
 *
 * @param signal As for {@linkcode isCancelled}.
 * @throws {DOMException} When the task is cancelled.
 *
 * @example Usage
 * ```ts ignore
 * import { throwIfCancelled } from "@scope/threadpool/task";
 *
 * export function work(items: number[]): number {
 *   let sum = 0;
 *   for (const item of items) {
 *     throwIfCancelled();
 *     sum += item;
 *   }
 *   return sum;
 * }
 * ```
 */
export function throwIfCancelled(signal?: AbortSignal): void {
  if (signal?.aborted) throw signal.reason;
  if (isCancelled(signal)) throw new DOMException("The pool cancelled the task", "AbortError");
}
