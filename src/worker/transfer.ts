/**
 * Worker thread, for task modules: results a task hands back by transfer rather than by copy.
 *
 * @module
 */

import { workerContext } from "./task_context.ts";

// A registered symbol: the task module may have imported another copy of this package.
const TRANSFER: unique symbol = Symbol.for("@scope/threadpool/transfer") as never;

interface Transferring {
  [TRANSFER]: true;
  value: unknown;
  transfer: Transferable[];
}

/**
 * Returns `value` so that the pool moves the objects in `transfer` (an
 * `ArrayBuffer`, a `MessagePort`, …) back to the caller instead of copying
 * them: zero copy, and the task loses them. Use it as the task's return
 * value; the caller receives `value` itself. Outside any pool's worker (a
 * task function called directly, on the main thread or in a test) there is
 * nothing to transfer: it returns `value` as it is.
 *
 * @param value The result.
 * @param transfer What in it to move rather than copy.
 * @returns `value`, marked for transfer (its type is unchanged).
 *
 * @example A task that returns a large buffer without copying it
 * ```ts ignore
 * import { transfer } from "@scope/threadpool/task";
 *
 * export function render(width: number, height: number): Uint8Array {
 *   const pixels = new Uint8Array(width * height * 4);
 *   // ... fill it ...
 *   return transfer(pixels, [pixels.buffer]);
 * }
 * ```
 */
export function transfer<T>(value: T, transfer: Transferable[]): T {
  if (workerContext() === undefined) return value;
  const marked: Transferring = { [TRANSFER]: true, value, transfer };
  return marked as T;
}

/** Whether `value` was marked by {@linkcode transfer}: cheaper than splitting every value. */
export function marked(value: unknown): boolean {
  return typeof value === "object" && value !== null && TRANSFER in value;
}

/** Splits a task's return value into the result and what to transfer. */
export function unwrapTransfer(value: unknown): [unknown, Transferable[] | undefined] {
  if (marked(value)) {
    const marked = value as Transferring;
    return [marked.value, marked.transfer];
  }
  return [value, undefined];
}
