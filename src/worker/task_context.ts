/**
 * Worker thread: what a worker shares with the task API (`@scope/threadpool/task`) about the
 * task it is running. Kept on a global under a registered symbol, so that a
 * task module that imported a different copy of this package still finds it.
 *
 * @module
 */

import { CANCEL_SLOTS, CANCELS, CONTEXT_KEY } from "../wire/protocol.ts";

/** A task as the worker runs it. */
export interface RunningTask {
  /** The pool's id for the request. */
  readonly id: number;
  /** Its sequence number on this thread: where its cancel flag lives. */
  readonly seq: number;
  /** Its wire flags: whether the caller listens to its progress, among others. */
  readonly flags: number;
  /** Set once it has posted progress: its result then goes by message, after it. */
  progressed: boolean;
  /** Made on the first `taskSignal()` call. */
  controller: AbortController | null;
  /** Why the pool cancelled it, once it has. */
  reason: DOMException | null;
}

/** The worker's side of the context. */
export interface WorkerContext {
  /** The task whose synchronous code is running, if any. */
  current: RunningTask | null;
  /** The counters shared with the pool. */
  counters: Int32Array<ArrayBufferLike>;
  /** Reports a task's progress to the pool. */
  progress(task: RunningTask, value: unknown): void;
}

/** Publishes the worker's context; called once by the worker script. */
export function publishContext(context: WorkerContext): void {
  (globalThis as Record<symbol, unknown>)[CONTEXT_KEY] = context;
}

/** The context, when this code runs in a pool worker. */
export function workerContext(): WorkerContext | undefined {
  return (globalThis as Record<symbol, unknown>)[CONTEXT_KEY] as WorkerContext | undefined;
}

/** Whether the pool has flagged `task` cancelled in shared memory (readable from sync code). */
export function flagged(context: WorkerContext, task: RunningTask): boolean {
  return Atomics.load(context.counters, CANCELS + task.seq % CANCEL_SLOTS) === task.seq + 1;
}
