/**
 * The script each pool worker runs. It imports task modules once, runs the
 * tasks it is sent in order (up to `concurrency` at once), and answers each
 * with one `done` message. It counts the tasks it takes in memory shared
 * with the pool, so that when it dies the pool knows exactly which requests
 * were running (they fail) and which were only handed over (they are queued
 * again); and it reads the pool's cancel flags there before starting a task.
 *
 * @module
 */

import { errorMessage, toWireError } from "../wire/error_wire.ts";
import { isThenable } from "../wire/thenable.ts";
import { HELD_CAPACITY, HeldResults } from "../wire/held_results.ts";
import {
  CANCEL_SLOTS,
  CANCELS,
  CHUNK,
  type ChunkOutcome,
  COUNTERS,
  DISMISSED,
  FAILED,
  type FromWorker,
  NOTIFY,
  POSTED,
  REPORT_STARTS,
  RETURNED,
  RUNNING,
  SKIPPED,
  STARTED,
  STEALS,
  type ToWorker,
  type WireInitializer,
  type WireTask,
} from "../wire/protocol.ts";
import { publishContext, type RunningTask, type WorkerContext } from "./task_context.ts";
import { unwrapTransfer } from "./transfer.ts";

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

/** An entry of the function table: a task function, once loaded, and its timing. */
interface Def {
  readonly module: string;
  readonly name: string;
  fn: TaskFunction | null;
  loading: Promise<TaskFunction> | null;
  /** How long its calls' synchronous part takes, smoothed (ms); Infinity: not yet known. */
  time: number;
}

/** A task as this worker runs it. */
interface Task extends RunningTask {
  readonly def: Def;
  readonly args: unknown[];
  readonly flags: number;
}

/** Results held at most this long before they leave, when more tasks follow. */
const FLUSH_AFTER_MS = 1;
/**
 * Results wait only in front of a task known to take less than this: one
 * that is slower, or not yet measured, could hang and be abandoned, and must
 * not take earlier results with it.
 */
const TINY_MS = 0.05;
/** And at most this many go in one message: all of them mirrored in shared memory. */
const MAX_BATCH = HELD_CAPACITY;

const scope = globalThis as unknown as WorkerScope;
const defs: Def[] = [];
const waiting: WireTask[] = [];
const active: Task[] = [];
const startable: Task[] = [];
const context: WorkerContext = { current: null, counters: new Int32Array(COUNTERS) };
let next = 0;
let concurrency = 1;
let dying = false;
let launching = false;
// No task starts before the pool's initializer, if any, has finished.
let initialized = false;
// Results wait here and leave together: one message for a run of tasks.
let outbox: unknown[] = [];
let outboxNames: string[] = [];
let outboxTransfer: Transferable[] = [];
let outboxSince = 0;
let flushQueued = false;
// Whether every result in the outbox is mirrored in shared memory, where the
// pool can read it if this thread is abandoned before the outbox leaves.
let outboxMirrored = true;
let held: HeldResults | null = null;

publishContext(context);

scope.onmessage = (event) => {
  const message = event.data;
  switch (message.t) {
    case "init":
      context.counters = new Int32Array(message.counters);
      held = new HeldResults(message.held);
      concurrency = message.concurrency;
      if (message.initializer === undefined) ready();
      else initialize(message.initializer);
      return;
    case "run":
      if (message.defs !== undefined) {
        for (const [fn, module, name] of message.defs) {
          defs[fn] = { module, name, fn: null, loading: null, time: Infinity };
        }
      }
      for (const task of message.tasks) waiting.push(task);
      for (let task = take(); task !== undefined; task = take()) launch(task);
      return;
    case "cancel": {
      // The flag in shared memory is already set; this reaches async code.
      const task = active.find((task) => task.id === message.id);
      if (task === undefined) return;
      task.reason = new DOMException(
        message.timeout ? "The task timed out" : "The pool cancelled the task",
        message.timeout ? "TimeoutError" : "AbortError",
      );
      task.controller?.abort(task.reason);
      return;
    }
    case "dismiss":
      handBack();
      return;
    case "ping":
      post({ t: "pong" });
      return;
  }
};

/**
 * Takes the next waiting task that may start now and counts it as started.
 * A task the pool has cancelled is skipped (and answered, so the pool knows);
 * a dismissed worker starts nothing more: the pool sets both flags in shared
 * memory before it tells us, so no task can slip in between.
 */
function take(): Task | undefined {
  if (!initialized) return undefined;
  while (active.length < concurrency && next < waiting.length) {
    if (Atomics.load(context.counters, DISMISSED) !== 0) {
      handBack();
      return undefined;
    }
    const [id, fn, args, flags] = waiting[next++]!;
    if (next === waiting.length) waiting.length = next = 0;
    const seq = Atomics.add(context.counters, STARTED, 1);
    if (
      Atomics.load(context.counters, CANCELS + seq % CANCEL_SLOTS) === seq + 1 ||
      Atomics.load(context.counters, STEALS + seq % CANCEL_SLOTS) === seq + 1
    ) {
      // Answered all the same, so the pool knows the thread holds it no more.
      deliver(id, seq, SKIPPED, null, undefined, "");
      continue;
    }
    const task: Task = { id, seq, def: defs[fn]!, args, flags, controller: null, reason: null };
    active.push(task);
    if (flags & NOTIFY) post({ t: "started", id });
    else if (Atomics.load(context.counters, REPORT_STARTS) !== 0) post({ t: "started" });
    return task;
  }
  return undefined;
}

/**
 * Starts tasks one after another in a loop: a sync task finishes inside
 * `start`, and starting its successor from there would nest one stack frame
 * per task.
 */
function launch(task: Task): void {
  startable.push(task);
  if (launching) return;
  launching = true;
  try {
    for (let next = startable.shift(); next !== undefined; next = startable.shift()) {
      if (
        outbox.length > 0 &&
        (!outboxMirrored || next.def.time > TINY_MS ||
          performance.now() - outboxSince > FLUSH_AFTER_MS)
      ) {
        flush();
      }
      start(next);
    }
  } finally {
    launching = false;
  }
}

function start(task: Task): void {
  const { def } = task;
  if (def.fn !== null) invoke(task, def.fn);
  else load(def).then((fn) => invoke(task, fn), (error) => finish(task, false, error));
}

function invoke(task: Task, fn: TaskFunction): void {
  let value: unknown;
  context.current = task;
  Atomics.store(context.counters, RUNNING, task.seq + 1);
  const begun = performance.now();
  try {
    value = task.flags & CHUNK ? runChunk(fn, task.args as unknown[][]) : fn(...task.args);
  } catch (error) {
    finish(task, false, error);
    return;
  } finally {
    context.current = null;
    Atomics.store(context.counters, RUNNING, 0);
    // The synchronous part is what can hold results back; learn how long it takes.
    const took = performance.now() - begun;
    const { def } = task;
    def.time = def.time === Infinity ? took : def.time * 0.8 + took * 0.2;
  }
  if (isThenable(value)) {
    value.then((result) => finish(task, true, result), (error) => finish(task, false, error));
  } else {
    finish(task, true, value);
  }
}

async function runChunk(fn: TaskFunction, calls: unknown[][]): Promise<ChunkOutcome[]> {
  const task = context.current;
  const outcomes: ChunkOutcome[] = [];
  for (const args of calls) {
    context.current = task;
    if (task !== null) Atomics.store(context.counters, RUNNING, task.seq + 1);
    try {
      let value = fn(...args);
      context.current = null;
      Atomics.store(context.counters, RUNNING, 0);
      if (isThenable(value)) value = await value;
      outcomes.push([true, value]);
    } catch (error) {
      outcomes.push([false, toWireError(error)]);
    } finally {
      context.current = null;
      Atomics.store(context.counters, RUNNING, 0);
    }
  }
  return outcomes;
}

function finish(task: Task, ok: boolean, value: unknown): void {
  active.splice(active.indexOf(task), 1);
  // A cancelled task that ends says so in shared memory: its answer may wait
  // in the pool's message queue behind a grace timer that must not abandon us.
  const cancel = CANCELS + task.seq % CANCEL_SLOTS;
  if (Atomics.load(context.counters, cancel) === task.seq + 1) {
    Atomics.store(context.counters, cancel, -(task.seq + 1));
  }
  // The next task is counted as started before this result is posted, so the
  // pool's view of "started" is current when the result reaches it.
  const following = take();
  if (ok) {
    const [result, transfer] = unwrapTransfer(value);
    deliver(task.id, task.seq, RETURNED, result, transfer, task.def.name);
  } else {
    deliver(task.id, task.seq, FAILED, toWireError(value), undefined, task.def.name);
  }
  if (following !== undefined) launch(following);
}

/** Queues an outcome for the next flush. */
function deliver(
  id: number,
  seq: number,
  code: number,
  value: unknown,
  transfer: Transferable[] | undefined,
  name: string,
): void {
  if (outbox.length === 0) outboxSince = performance.now();
  const mirrored = code !== FAILED && transfer === undefined &&
    held !== null && held.write(outboxNames.length, seq, value, code === SKIPPED);
  outbox.push(id, seq, code, value);
  outboxNames.push(name);
  if (transfer !== undefined) { for (const item of transfer) outboxTransfer.push(item); }
  if (!mirrored) outboxMirrored = false;
  // A result that is not mirrored must not wait while other tasks' code can
  // run first: one of them could block this thread for good.
  if (outboxNames.length >= MAX_BATCH || (!mirrored && active.length > 0)) flush();
  else if (!flushQueued) {
    flushQueued = true;
    queueMicrotask(flush);
  }
}

function flush(): void {
  flushQueued = false;
  if (outbox.length === 0) return;
  const results = outbox;
  const names = outboxNames;
  const transfer = outboxTransfer;
  outbox = [];
  outboxNames = [];
  outboxTransfer = [];
  outboxMirrored = true;
  try {
    scope.postMessage({ t: "done", results }, transfer);
    posted(names.length);
    return;
  } catch {
    // Some result cannot be cloned: send them one by one, and fail just those.
  }
  for (let i = 0; i < results.length; i += 4) {
    const one = results.slice(i, i + 4);
    try {
      scope.postMessage({ t: "done", results: one });
    } catch (error) {
      const reason = new TypeError(
        `The result of task "${names[i / 4]}" could not be sent back: ${errorMessage(error)}`,
        { cause: error },
      );
      post({ t: "done", results: [one[0], one[1], FAILED, toWireError(reason)] });
    }
  }
  posted(names.length);
}

/** Counts results as posted, then frees their mirror: the pool reads in the other order. */
function posted(count: number): void {
  Atomics.add(context.counters, POSTED, count);
  held?.clear();
}

/** Returns the tasks not begun to the pool. */
function handBack(): void {
  if (next >= waiting.length) return;
  const ids = waiting.slice(next).map(([id]) => id);
  waiting.length = next = 0;
  post({ t: "returned", ids });
}

/** The thread may run tasks: it says so, and starts those already sent. */
function ready(): void {
  initialized = true;
  post({ t: "ready" });
  for (let task = take(); task !== undefined; task = take()) launch(task);
}

/**
 * Runs the pool's initializer before any task. If it fails, the thread is
 * not what the pool's tasks expect: it reports the error and stops, and the
 * pool fails what it had handed this thread.
 */
function initialize([module, name, args]: WireInitializer): void {
  const def: Def = { module, name, fn: null, loading: null, time: Infinity };
  load(def).then((fn) => fn(...args)).then(ready, (error) => {
    if (dying) return;
    dying = true;
    post({ t: "initFailed", error: toWireError(error) });
    close();
  });
}

function load(def: Def): Promise<TaskFunction> {
  if (def.loading === null) {
    def.loading = import(def.module).then((exports: Record<string, unknown>) => {
      const fn = exports[def.name];
      if (typeof fn !== "function") {
        const has = Object.keys(exports).filter((name) => typeof exports[name] === "function");
        throw new TypeError(
          `Module ${def.module} has no exported function "${def.name}"` +
            (fn === undefined ? "" : ` (it is ${typeof fn})`) +
            `; its exported functions are: ${has.join(", ") || "none"}`,
        );
      }
      def.fn = fn as TaskFunction;
      return def.fn;
    });
    // A failed import is not kept, so a module fixed on disk can load later.
    def.loading.catch(() => def.loading = null);
  }
  return def.loading;
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
  flush();
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
  flush();
  if (!dying) post({ t: "exit", how: "the task called Deno.exit()" });
  dying = true;
});
// `self.close()` is silent too, and fires no `unload`.
const close = scope.close.bind(scope);
scope.close = () => {
  flush();
  if (!dying) post({ t: "exit", how: "the task called self.close()" });
  dying = true;
  close();
};
