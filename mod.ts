/**
 * A thread pool on Deno Web Workers that never hangs and never loses a
 * result. A task is an exported function of a module, named by the module's
 * URL and the export's name; the pool runs it on a worker thread.
 *
 * It keeps the API of Python's `threadpool.py` (`ThreadPool`, `WorkRequest`,
 * `makeRequests`, `putRequest`, `poll`, `wait`, `createWorkers`,
 * `dismissWorkers`, `joinAllDismissedWorkers`, `NoResultsPending`,
 * `NoWorkersAvailable`) and adds promises (`run`), ordered or unordered
 * `map`, and the result channel as an async iterator (`results`).
 *
 * Workers load task modules from disk, so run with `--allow-read`. With the
 * `permissions` option, workers get fewer Deno permissions than the program
 * (read access to their task modules is granted for them); it needs Deno's
 * `--unstable-worker-options`, which the pool checks for instead of letting
 * Deno end the process.
 *
 * @example Promises and callbacks
 * ```ts
 * import { makeRequests, ThreadPool } from "@scope/threadpool";
 * import { deepEqual, equal } from "node:assert/strict";
 *
 * const source = "export function add(a, b) { return a + b; }";
 * const add = {
 *   module: `data:text/javascript,${encodeURIComponent(source)}`,
 *   name: "add",
 * };
 *
 * await using pool = new ThreadPool(2);
 * equal(await pool.run(add, [1, 2]), 3);
 *
 * const sums: unknown[] = [];
 * for (const request of makeRequests(add, [[1, 1], [2, 2]], (_, sum) => sums.push(sum))) {
 *   await pool.putRequest(request);
 * }
 * await pool.wait();
 * deepEqual(sums.sort(), [2, 4]);
 * ```
 *
 * @example Workers that may do nothing but run their tasks
 * ```ts
 * import { TaskError, ThreadPool } from "@scope/threadpool";
 * import { rejects } from "node:assert/strict";
 *
 * const source = "export function read(path) { return Deno.readTextFileSync(path); }";
 * const read = { module: `data:text/javascript,${encodeURIComponent(source)}`, name: "read" };
 *
 * // Needs --unstable-worker-options, or "unstable": ["worker-options"] in deno.json.
 * await using pool = new ThreadPool(1, { permissions: "none" });
 * await rejects(pool.run(read, ["deno.json"]), TaskError); // NotCapable inside the worker
 * ```
 *
 * @module
 */

export {
  NoResultsPending,
  NoWorkersAvailable,
  PoolClosedError,
  QueueFullError,
  RetryError,
  TaskError,
  TaskTimeoutError,
  UnstableFlagError,
  WorkerLostError,
} from "./src/core/errors.ts";
export { taskModule } from "./src/core/task.ts";
export type {
  FunctionExports,
  MapInput,
  TaskArgs,
  TaskFunction,
  TaskModule,
  TaskResult,
  TaskSpec,
  TaskYield,
} from "./src/core/task.ts";
export { ThreadPool } from "./src/thread_pool.ts";
export type { WorkerExitDetail } from "./src/thread_pool.ts";
export type { WorkerExitReason } from "./src/threads/worker_slot.ts";
export type { RateLimit } from "./src/core/rate_limit.ts";
export type {
  CancelOptions,
  CloseOptions,
  Finalizer,
  Initializer,
  MapOptions,
  MapSettled,
  PollOptions,
  PutOptions,
  ResultsOptions,
  RetryOptions,
  RunOptions,
  StreamOptions,
  ThreadPoolOptions,
} from "./src/pool/options.ts";
export type { Settled } from "./src/pool/result_channel.ts";
export type { Percentiles, ThreadPoolStats } from "./src/core/stats.ts";
export { makeRequests, printException, WorkRequest } from "./src/pool/work_request.ts";
export type {
  Callback,
  ExcCallback,
  ProgressCallback,
  RequestID,
  TaskOf,
  WorkRequestOptions,
} from "./src/pool/work_request.ts";
