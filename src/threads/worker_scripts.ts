/**
 * Main thread, the Web Worker engine: the scripts a pool's threads run, and
 * the check that this program may read them.
 *
 * @module
 */

import { filePath } from "./paths.ts";
// Pulls the worker scripts into the static module graph so that `deno cache`
// and offline use include them; they are only ever loaded through `new Worker`.
import type {} from "../worker/worker.ts";
import type {} from "../worker/sandboxed_worker.ts";

/** The script every pool worker runs. */
export const workerURL: URL = new URL("../worker/worker.ts", import.meta.url);
/** The script a worker with its own `permissions` runs. */
export const sandboxedWorkerURL: URL = new URL("../worker/sandboxed_worker.ts", import.meta.url);
let readable = false;

/**
 * Checks that this program may read the pool's own worker scripts, once.
 * Without it Deno fails every worker at its first task, each with two stacks;
 * this says it once, in one line, with the flag that fixes it.
 *
 * @throws {Deno.errors.NotCapable} When the program may not read them.
 */
export function assertWorkerScriptsReadable(): void {
  if (readable || workerURL.protocol !== "file:") return;
  const path = filePath(workerURL);
  const descriptor = { name: "read", path } as const;
  let { state } = Deno.permissions.querySync(descriptor);
  if (state === "prompt") state = Deno.permissions.requestSync(descriptor).state;
  if (state === "granted") {
    readable = true;
    return;
  }
  const folder = filePath(new URL("../..", workerURL)).replace(/[\\/]$/, "");
  const error = new Deno.errors.NotCapable(
    `Cannot create the pool: this program may not read the pool's worker script ${path}; ` +
      `run Deno with --allow-read (or --allow-read=${folder} plus your task modules)`,
  );
  // One line: the stack would only point into the pool.
  error.stack = `${error.name}: ${error.message}`;
  throw error;
}
