/**
 * The script each pool worker runs. It imports task modules once, runs the
 * tasks it is sent in order (up to `concurrency` at once), and answers each
 * with one `done` message. It keeps its own count of started tasks in memory
 * shared with the pool, so that when it dies the pool knows exactly which
 * requests were running (they fail) and which were only handed over (they are
 * queued again).
 *
 * @module
 */

import { toWireError } from "./error_wire.ts";
import {
  type ChunkOutcome,
  COUNTERS,
  DISMISSED,
  type FromWorker,
  REPORT_STARTS,
  STARTED,
  type ToWorker,
  type WireTask,
} from "./protocol.ts";

// `self.onmessage` does not type-check under the default lib, and publishing
// bans `/// <reference lib="deno.worker" />`, so the scope is typed here.
interface WorkerScope {
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
  close(): void;
  addEventListener(
    type: "error" | "unhandledrejection" | "unload",
    listener: (event: Event & { error?: unknown; reason?: unknown }) => void,
  ): void;
}

type TaskFunction = (...args: unknown[]) => unknown;

const scope = globalThis as unknown as WorkerScope;
const functions = new Map<string, TaskFunction>();
const loading = new Map<string, Promise<TaskFunction>>();
const waiting: WireTask[] = [];
let next = 0;
let counters: Int32Array<ArrayBufferLike> = new Int32Array(COUNTERS);
let concurrency = 1;
let running = 0;
let dying = false;
const startable: WireTask[] = [];
let launching = false;

scope.onmessage = (event) => {
  const message = event.data;
  switch (message.t) {
    case "init":
      counters = new Int32Array(message.counters);
      concurrency = message.concurrency;
      return;
    case "run":
      for (const task of message.tasks) waiting.push(task);
      for (let task = take(); task !== undefined; task = take()) launch(task);
      return;
    case "dismiss":
      handBack();
      return;
  }
};

/**
 * Takes the next waiting task, if one may start now, and counts it as
 * started. A dismissed worker starts nothing more: the pool sets the flag in
 * shared memory before it tells us, so no task can slip in between.
 */
function take(): WireTask | undefined {
  if (running >= concurrency || next >= waiting.length) return undefined;
  if (Atomics.load(counters, DISMISSED) !== 0) {
    handBack();
    return undefined;
  }
  const task = waiting[next++]!;
  if (next === waiting.length) waiting.length = next = 0;
  running++;
  Atomics.add(counters, STARTED, 1);
  if (Atomics.load(counters, REPORT_STARTS) !== 0) post({ t: "started" });
  return task;
}

function start(task: WireTask): void {
  const fn = functions.get(key(task));
  if (fn === undefined) {
    load(task).then((loaded) => invoke(task, loaded), (error) => finish(task, false, error));
  } else {
    invoke(task, fn);
  }
}

function invoke(task: WireTask, fn: TaskFunction): void {
  let value: unknown;
  try {
    value = task.chunk ? runChunk(fn, task.args as unknown[][]) : fn(...task.args);
  } catch (error) {
    finish(task, false, error);
    return;
  }
  if (isThenable(value)) {
    value.then((result) => finish(task, true, result), (error) => finish(task, false, error));
  } else {
    finish(task, true, value);
  }
}

async function runChunk(fn: TaskFunction, calls: unknown[][]): Promise<ChunkOutcome[]> {
  const outcomes: ChunkOutcome[] = [];
  for (const args of calls) {
    try {
      let value = fn(...args);
      if (isThenable(value)) value = await value;
      outcomes.push([true, value]);
    } catch (error) {
      outcomes.push([false, toWireError(error)]);
    }
  }
  return outcomes;
}

function finish(task: WireTask, ok: boolean, value: unknown): void {
  running--;
  // The next task is counted as started before this result is posted, so the
  // pool's view of "started" is current when the result reaches it.
  const following = take();
  if (ok) {
    try {
      scope.postMessage({ t: "done", id: task.id, ok: true, value });
    } catch (error) {
      const reason = new TypeError(
        `The result of task "${task.name}" could not be sent back: ${describeError(error)}`,
        { cause: error },
      );
      post({ t: "done", id: task.id, ok: false, error: toWireError(reason) });
    }
  } else {
    post({ t: "done", id: task.id, ok: false, error: toWireError(value) });
  }
  if (following !== undefined) launch(following);
}

/**
 * Starts tasks one after another in a loop: a sync task finishes inside
 * `start`, and starting its successor from there would nest one stack frame
 * per task.
 */
function launch(task: WireTask): void {
  startable.push(task);
  if (launching) return;
  launching = true;
  try {
    for (let next = startable.shift(); next !== undefined; next = startable.shift()) start(next);
  } finally {
    launching = false;
  }
}

/** Returns the tasks not begun to the pool. */
function handBack(): void {
  if (next >= waiting.length) return;
  const ids = waiting.slice(next).map((task) => task.id);
  waiting.length = next = 0;
  post({ t: "returned", ids });
}

function load(task: WireTask): Promise<TaskFunction> {
  const id = key(task);
  let promise = loading.get(id);
  if (promise === undefined) {
    promise = import(task.module).then((exports: Record<string, unknown>) => {
      const fn = exports[task.name];
      if (typeof fn !== "function") {
        const has = Object.keys(exports).filter((name) => typeof exports[name] === "function");
        throw new TypeError(
          `Module ${task.module} has no exported function "${task.name}"` +
            (fn === undefined ? "" : ` (it is ${typeof fn})`) +
            `; its exported functions are: ${has.join(", ") || "none"}`,
        );
      }
      functions.set(id, fn as TaskFunction);
      return fn as TaskFunction;
    });
    loading.set(id, promise);
    // A failed import is not cached, so a module fixed on disk can load later.
    promise.catch(() => loading.delete(id));
  }
  return promise;
}

function key(task: WireTask): string {
  return `${task.name}@${task.module}`;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === "object" && value !== null &&
    typeof (value as { then?: unknown }).then === "function";
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function post(message: FromWorker): void {
  scope.postMessage(message);
}

// An uncaught error or unhandled rejection would kill this worker with a
// parent-side event that has no error object; report the real error, then
// stop, so the pool can fail the running request with it and replace us.
function die(error: unknown): void {
  if (dying) return;
  dying = true;
  post({ t: "fatal", error: toWireError(error) });
  close();
}

scope.addEventListener("error", (event) => {
  event.preventDefault();
  die(event.error ?? new Error(String((event as ErrorEvent).message)));
});
scope.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  die(event.reason);
});
// `Deno.exit()` in a worker gives the parent no event at all; `unload` still
// runs and may post (see deno-platform.md).
scope.addEventListener("unload", () => {
  if (!dying) post({ t: "exit", how: "the task called Deno.exit()" });
  dying = true;
});
// `self.close()` is silent too, and fires no `unload`.
const close = scope.close.bind(scope);
scope.close = () => {
  if (!dying) post({ t: "exit", how: "the task called self.close()" });
  dying = true;
  close();
};

post({ t: "ready" });
