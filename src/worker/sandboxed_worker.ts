/**
 * Worker thread: the worker script of a pool with `permissions`. Deno checks a task
 * module's imports against the worker's own permissions, and the pool grants
 * only the task modules themselves; loaded here, as the entry's static import
 * (checked against the parent's permissions), the task-side API is already in
 * the thread's module map when a task module imports it. Other pools use
 * `worker.ts` directly and do not pay for loading it.
 *
 * @module
 */

import "../../task.ts";
import "./worker.ts";
