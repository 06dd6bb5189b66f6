/**
 * Every message between the pool and its workers, one discriminated union
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
/** How many Int32 counters each worker shares with the pool. */
export const COUNTERS = CANCELS + CANCEL_SLOTS;

/** The global key under which a worker publishes the running task to the task API. */
export const CONTEXT_KEY: unique symbol = Symbol.for("@scope/threadpool/context") as never;

/** One task as sent to a worker. */
export interface WireTask {
  /** The pool's id for the request. */
  id: number;
  /** The task module's absolute URL. */
  module: string;
  /** The export to call. */
  name: string;
  /** The arguments, or with `chunk` a list of argument lists. */
  args: unknown[];
  /** Run `args` as several calls and answer with one outcome per call. */
  chunk?: true;
  /** Report the start of this task (its timeout clock starts then). */
  notify?: true;
}

/** The outcome of one call of a chunk. */
export type ChunkOutcome = [ok: true, value: unknown] | [ok: false, error: WireError];

/** From the pool to a worker. */
export type ToWorker =
  | { t: "init"; counters: SharedArrayBuffer; concurrency: number }
  | { t: "run"; tasks: WireTask[] }
  | { t: "cancel"; id: number; timeout: boolean }
  | { t: "dismiss" };

/** One task's outcome. */
export type WireResult =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: WireError };

/** From a worker to the pool. */
export type FromWorker =
  | { t: "ready" }
  | { t: "done"; results: WireResult[] }
  | { t: "started"; id?: number }
  | { t: "returned"; ids: number[] }
  | { t: "fatal"; error: WireError }
  | { t: "exit"; how: string };
