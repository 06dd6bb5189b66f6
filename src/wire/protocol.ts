/**
 * Both threads: every message between the pool and its workers, one discriminated union
 * each way, and the layout of the memory each worker shares with the pool.
 *
 * @module
 */

import type { WireError } from "./error_wire.ts";

/** Counter: how many tasks the worker has taken (started or skipped); only the worker writes it. */
export const STARTED = 0;
/** Counter: set by the pool while it waits for queue room, to hear of each start. */
export const REPORT_STARTS = 1;
/** Counter: set by the pool when it dismisses the worker: start nothing more. */
export const DISMISSED = 2;
/**
 * First of the cancel slots: the pool writes `seq + 1` into slot
 * `CANCELS + seq % CANCEL_SLOTS` to cancel the task with that sequence
 * number on this thread. Exact, so a reused slot never cancels the wrong task.
 * When a cancelled task ends, the worker writes `-(seq + 1)` there.
 */
export const CANCELS = 3;
/** How many cancel slots each worker has. */
export const CANCEL_SLOTS = 64;
/**
 * First of the steal slots, laid out like the cancel slots: the pool writes
 * `seq + 1` there to take back a task it handed ahead and the worker has not
 * begun, for an idle worker. The worker skips such a task as it skips a
 * cancelled one, but the task API never reads these: a task that did start
 * is never told it was cancelled.
 */
export const STEALS = CANCELS + CANCEL_SLOTS;
/**
 * Counter: `seq + 1` of the task whose synchronous part the worker is running
 * now, 0 between tasks (or in async code). Only the worker writes it; it
 * tells the pool whether a thread that stopped answering is busy with a task
 * that was cancelled or with one that is still wanted.
 */
export const RUNNING = STEALS + CANCEL_SLOTS;
/**
 * Counter: results the worker has posted. The pool counts those it received;
 * while some are still on their way, what the thread holds back in shared
 * memory is not yet the whole story.
 */
export const POSTED = RUNNING + 1;
/**
 * Counter: how long the worker is busy per task, lately, in sixteenths of a
 * microsecond (0 until measured); only the worker writes it. The pool sizes
 * what it hands ahead by it: measured on the pool's side, a busy main thread
 * would look like a slow worker.
 */
export const SERVICE_TIME = POSTED + 1;
/** {@linkcode SERVICE_TIME}'s units per millisecond. */
export const SERVICE_TIME_UNITS = 16_000;
/**
 * Counter: progress messages the pool has handed on to their listeners.
 * The worker posts a task's progress only once every earlier one has been
 * (and keeps only the latest meanwhile): a slow listener gets fewer, newer
 * values, and never a backlog.
 */
export const PROGRESS_HANDLED = SERVICE_TIME + 1;
/** How many Int32 counters each worker shares with the pool. */
export const COUNTERS = PROGRESS_HANDLED + 1;

/** The global key under which a worker publishes the running task to the task API. */
export const CONTEXT_KEY: unique symbol = Symbol.for("@scope/threadpool/context") as never;

/**
 * One task as sent to a worker: a tuple, because the hot path clones one per
 * task and an object would carry its keys each time. `fn` indexes the
 * thread's function table, filled by the `defs` of earlier `run` messages;
 * `seq` is its sequence number on the thread, which orders the tasks that
 * come by message and by the shared-memory lane into one. A task with `fn`
 * {@linkcode VOID} holds a sequence number whose task could not be sent: the
 * worker takes it and answers nothing.
 */
export type WireTask = [
  id: number,
  fn: number,
  args: unknown[],
  flags: number,
  seq: number,
  /** For a stream: how many values it may send before it waits for more. */
  credit?: number,
];

/** The `fn` of a placeholder task. */
export const VOID = -1;

/** Flag: `args` holds several calls; answer with one outcome per call. */
export const CHUNK = 1;
/** Flag: report the start of this task (its timeout clock starts then). */
export const NOTIFY = 2;
/** Flag: the caller listens to this task's progress. */
export const PROGRESS = 4;
/**
 * Flag: the task's result is iterated, its values sent as they come
 * (`yield` messages), each only when the pool has room for it (its credit,
 * given in the task and then by `pull` messages).
 */
export const STREAM = 8;

/** A thread's initializer or finalizer as sent to it: `[module URL, export name, arguments]`. */
export type WireHook = [module: string, name: string, args: unknown[]];

/** A function table entry: `[fn, module URL, export name]`. */
export type WireDef = [fn: number, module: string, name: string];

/**
 * Outcomes, flat: `[id, seq, code, value, …]`, four slots per task. `seq` is
 * the task's sequence number on the thread, which tells two copies of one
 * request apart (a stolen task can be sent to the same thread again). Code
 * `RETURNED`: `value` is the result; `FAILED`: `value` is a `WireError`;
 * `SKIPPED`: the task was cancelled or stolen before it began, no value.
 */
export type WireResults = unknown[];

/** Result code: the task returned a value. */
export const RETURNED = 1;
/** Result code: the task failed. */
export const FAILED = 0;
/** Result code: the task was cancelled or stolen before it began. */
export const SKIPPED = 2;

/** The outcome of one call of a chunk. */
export type ChunkOutcome = [ok: true, value: unknown] | [ok: false, error: WireError];

/** From the pool to a worker. */
export type ToWorker =
  | {
    t: "init";
    counters: SharedArrayBuffer;
    held: SharedArrayBuffer;
    concurrency: number;
    /** The thread's shared-memory lane (`lane.ts`), unless the pool has it off. */
    lane?: SharedArrayBuffer;
    /** Run once before the first task: `[module URL, export name, arguments]`. */
    initializer?: WireHook;
  }
  | { t: "run"; defs?: WireDef[]; tasks: WireTask[] }
  | { t: "cancel"; id: number; timeout: boolean }
  /** A stream may send `n` more values. */
  | { t: "pull"; id: number; n: number }
  | { t: "dismiss" }
  /** Run the finalizer once the initializer, if any, has finished, then answer `finalized`. */
  | { t: "finalize"; finalizer: WireHook }
  | { t: "ping" }
  /** The doorbell: requests wait in the lane. */
  | { t: "lane" };

/** From a worker to the pool. */
export type FromWorker =
  | { t: "ready" }
  | { t: "done"; results: WireResults }
  | { t: "started"; id?: number; at?: number }
  /** A running task's latest progress report. */
  | { t: "progress"; id: number; value: unknown }
  /** Values a stream made, in order. */
  | { t: "yield"; id: number; values: unknown[] }
  | { t: "returned"; ids: number[] }
  | { t: "fatal"; error: WireError }
  | { t: "exit"; how: string }
  | { t: "initFailed"; error: WireError }
  /** The finalizer has ended; `error` if it failed. The thread may be terminated. */
  | { t: "finalized"; error?: WireError }
  | { t: "pong" }
  /** The doorbell: results wait in the lane. */
  | { t: "lane" };
