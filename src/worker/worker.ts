/**
 * Worker thread: the script each pool worker runs. It imports task modules once, runs the
 * tasks it is sent in order (up to `concurrency` at once), and answers each
 * with one `done` message. It counts the tasks it takes in memory shared
 * with the pool, so that when it dies the pool knows exactly which requests
 * were running (they fail) and which were only handed over (they are queued
 * again); and it reads the pool's cancel flags there before starting a task.
 *
 * @module
 */

import { toWireError } from "../wire/error_wire.ts";
import {
  CANCEL_SLOTS,
  CANCELS,
  COUNTERS,
  DISMISSED,
  FAILED,
  type FromWorker,
  NOTIFY,
  REPORT_STARTS,
  RETURNED,
  SKIPPED,
  STARTED,
  STEALS,
  STREAM,
  type ToWorker,
  VOID,
  type WireHook,
  type WireTask,
} from "../wire/protocol.ts";
import { LaneEnd } from "./lane_end.ts";
import { publishContext, type WorkerContext } from "./task_context.ts";
import { type Def, def, load, type Task, TaskRunner } from "./task_runner.ts";
import { Outbox } from "./outbox.ts";
import { ProgressOut } from "./progress_out.ts";
import { StreamOut } from "./stream_out.ts";
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

const scope = globalThis as unknown as WorkerScope;
const defs: Def[] = [];
const waiting: WireTask[] = [];
const active: Task[] = [];
const startable: Task[] = [];
const progress = new ProgressOut((message) => post(message), () => context.counters);
const context: WorkerContext = {
  current: null,
  counters: new Int32Array(COUNTERS),
  progress: (task, value) => progress.report(task, value),
};
let next = 0;
let concurrency = 1;
let lane: LaneEnd | null = null;
// Whether the last task taken came by the lane: then the pool is likely to send more soon.
let laneBusy = false;
let dying = false;
let launching = false;
// No task starts before the pool's initializer, if any, has finished.
let initialized = false;
// Settles when the initializer has ended, so that a finalizer runs after it.
let initializing: Promise<unknown> = Promise.resolve();
const outbox = new Outbox({
  post: (message, transfer) => scope.postMessage(message, transfer),
  othersRunning: () => active.length > 0,
});
const runner = new TaskRunner(context, finish);
const streams = new StreamOut(context, (message, transfer) => scope.postMessage(message, transfer));

publishContext(context);

scope.onmessage = (event) => {
  const message = event.data;
  switch (message.t) {
    case "init":
      context.counters = new Int32Array(message.counters);
      outbox.share(context.counters, message.held);
      concurrency = message.concurrency;
      if (message.lane !== undefined) lane = new LaneEnd(message.lane, () => post({ t: "lane" }));
      if (message.initializer === undefined) ready();
      else initialize(message.initializer);
      return;
    case "run":
      if (message.defs !== undefined) {
        for (const [fn, module, name] of message.defs) {
          defs[fn] = def(module, name);
        }
      }
      for (const task of message.tasks) waiting.push(task);
      pump();
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
      streams.cancelled(task.id);
      return;
    }
    case "pull":
      streams.grant(message.id, message.n);
      return;
    case "dismiss":
      handBack();
      return;
    case "finalize":
      finalize(message.finalizer);
      return;
    case "ping":
      post({ t: "pong" });
      return;
    case "lane":
      pump();
      return;
  }
};

/**
 * Takes the next waiting task that may start now and counts it as started:
 * the one with the next sequence number, whether it came by message or by
 * the lane (if it has not come yet, nothing is taken).
 * A task the pool has cancelled is skipped (and answered, so the pool knows);
 * a dismissed worker starts nothing more: the pool sets both flags in shared
 * memory before it tells us, so no task can slip in between.
 */
function take(): Task | undefined {
  if (!initialized) return undefined;
  while (active.length < concurrency) {
    if (Atomics.load(context.counters, DISMISSED) !== 0) {
      handBack();
      return undefined;
    }
    const expected = Atomics.load(context.counters, STARTED);
    let wire: WireTask | undefined;
    let fromLane = false;
    if (next < waiting.length && waiting[next]![4] === expected) {
      wire = waiting[next++]!;
      if (next === waiting.length) waiting.length = next = 0;
    } else if (lane !== null && (wire = lane.take(expected)) !== undefined) {
      fromLane = true;
    } else {
      return undefined;
    }
    laneBusy = fromLane;
    const [id, fn, args, flags, , credit = 0] = wire;
    const seq = Atomics.add(context.counters, STARTED, 1);
    if (fn === VOID) continue;
    if (
      Atomics.load(context.counters, CANCELS + seq % CANCEL_SLOTS) === seq + 1 ||
      Atomics.load(context.counters, STEALS + seq % CANCEL_SLOTS) === seq + 1
    ) {
      // Answered all the same, so the pool knows the thread holds it no more.
      answer(fromLane, id, seq, SKIPPED, null, undefined, "");
      continue;
    }
    const task: Task = {
      id,
      seq,
      def: defs[fn]!,
      args,
      flags,
      lane: fromLane,
      credit,
      streaming: false,
      controller: null,
      reason: null,
      progressed: false,
    };
    active.push(task);
    // When, as any thread reads the clock (a rate limit counts starts where they happen).
    if (flags & NOTIFY) post({ t: "started", id, at: performance.timeOrigin + performance.now() });
    else if (Atomics.load(context.counters, REPORT_STARTS) !== 0) post({ t: "started" });
    return task;
  }
  return undefined;
}

/**
 * Starts every task that may start now; then, with room for more, waits for
 * the lane's next request (after a short look for it, when the lane was just
 * busy and nothing runs) without blocking the thread: the pool's doorbell
 * (a `lane` message) pumps again.
 */
function pump(): void {
  try {
    for (;;) {
      for (let task = take(); task !== undefined; task = take()) launch(task);
      if (lane === null || dying || !initialized || active.length >= concurrency) return;
      // A request that came in the meantime is taken; one that waits behind a request
      // coming by message waits for it (its arrival pumps again).
      const head = lane.head();
      if (head === Atomics.load(context.counters, STARTED)) continue;
      if (head !== -1) return;
      // Nothing to run: the pool hears of the results now, and may send more meanwhile.
      lane.flush();
      if (laneBusy && active.length === 0 && lane.spin()) continue;
      laneBusy = false;
      if (!lane.sleep()) return;
    }
  } finally {
    // Whatever waits next (a message, an async task), the pool hears of the results first.
    lane?.flush();
  }
}

/** Sends an outcome: by the lane if the task came that way and it can, else by message. */
function answer(
  fromLane: boolean,
  id: number,
  seq: number,
  code: number,
  value: unknown,
  transfer: Transferable[] | undefined,
  name: string,
): void {
  if (fromLane && transfer === undefined && lane!.answer(id, seq, code, value)) return;
  outbox.deliver(id, seq, code, value, transfer, name);
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
      outbox.beforeStart(next.def.time);
      lane?.beforeStart(next.def.time);
      runner.start(next);
    }
  } finally {
    launching = false;
  }
}

function finish(task: Task, ok: boolean, value: unknown): void {
  if (ok && (task.flags & STREAM) !== 0 && !task.streaming) {
    // A stream's task has returned what to iterate: the task ends when that does.
    task.streaming = true;
    streams.drive(task, value, task.credit).then(
      () => finish(task, true, undefined),
      (error) => finish(task, false, error),
    );
    return;
  }
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
  // Its last progress report leaves first; then its result goes by message too, to follow it.
  progress.finish(task);
  if (ok) {
    const [result, transfer] = unwrapTransfer(value);
    answer(
      task.lane && !task.progressed,
      task.id,
      task.seq,
      RETURNED,
      result,
      transfer,
      task.def.name,
    );
  } else {
    // Errors go by message: their encoding is the message path's.
    outbox.deliver(task.id, task.seq, FAILED, toWireError(value), undefined, task.def.name);
  }
  if (following !== undefined) launch(following);
  // Outside a launch loop (an async task ended): start what may start, and wait for the lane.
  if (!launching) pump();
}

/** Returns the tasks not begun to the pool, in order, whichever way they came. */
function handBack(): void {
  const left: [seq: number, id: number][] = waiting.slice(next).map((task) => [task[4], task[0]]);
  waiting.length = next = 0;
  if (lane !== null) { for (const taken of lane.drain()) left.push(taken); }
  const ids = left.filter(([, id]) => id !== VOID).sort(([a], [b]) => a - b).map(([, id]) => id);
  if (ids.length > 0) post({ t: "returned", ids });
}

/** The thread may run tasks: it says so, and starts those already sent. */
function ready(): void {
  initialized = true;
  post({ t: "ready" });
  pump();
}

/**
 * Runs the pool's initializer before any task. If it fails, the thread is
 * not what the pool's tasks expect: it reports the error and stops, and the
 * pool fails what it had handed this thread.
 */
function initialize([module, name, args]: WireHook): void {
  initializing = load(def(module, name)).then((fn) => fn(...args)).then(ready, (error) => {
    if (dying) return;
    dying = true;
    post({ t: "initFailed", error: toWireError(error) });
    close();
  });
}

/**
 * Runs the pool's finalizer: the thread stops gracefully, its tasks have
 * ended. It starts nothing more, and says when the finalizer has ended; the
 * pool then terminates it.
 */
function finalize([module, name, args]: WireHook): void {
  Atomics.store(context.counters, DISMISSED, 1);
  initializing
    .then(() => {
      // An initializer that failed ended the thread: nothing to clean up.
      if (dying) return new Promise<never>(() => {});
      return load(def(module, name));
    })
    .then((fn) => fn(...args))
    .then(
      () => post({ t: "finalized" }),
      (error) => post({ t: "finalized", error: toWireError(error) }),
    );
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
  outbox.flush();
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
  outbox.flush();
  if (!dying) post({ t: "exit", how: "the task called Deno.exit()" });
  dying = true;
});
// `self.close()` is silent too, and fires no `unload`.
const close = scope.close.bind(scope);
scope.close = () => {
  outbox.flush();
  if (!dying) post({ t: "exit", how: "the task called self.close()" });
  dying = true;
  close();
};
