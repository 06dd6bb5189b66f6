/**
 * For task modules: what a task running on a pool worker can ask of the
 * pool. Import it in the module that exports your tasks, not in the program
 * that runs the pool.
 *
 * @example A task that stops when cancelled
 * ```ts ignore
 * import { taskSignal } from "@scope/threadpool/task";
 *
 * export async function download(url: string): Promise<string> {
 *   const response = await fetch(url, { signal: taskSignal() });
 *   return await response.text();
 * }
 * ```
 *
 * @module
 */

export { isCancelled, taskSignal, throwIfCancelled } from "./src/worker/task_signal.ts";
export { progress } from "./src/worker/task_progress.ts";
export { transfer } from "./src/worker/transfer.ts";
