/**
 * Worker thread: tasks' progress reports on their way to the pool. A report
 * leaves at once when the pool has handed on every earlier one; otherwise it
 * waits, and a newer report of the same task replaces it. So a task never
 * blocks on a slow listener, and the listener gets the latest value, not a
 * backlog. A task's last report leaves before its result.
 *
 * @module
 */

import { type FromWorker, PROGRESS, PROGRESS_HANDLED } from "../wire/protocol.ts";
import type { RunningTask } from "./task_context.ts";

/** How often waiting reports look again whether the pool has caught up, in ms. */
const RETRY_MS = 2;

/** The worker's outgoing progress reports. */
export class ProgressOut {
  readonly #post: (message: FromWorker) => void;
  readonly #counters: () => Int32Array<ArrayBufferLike>;
  /** Reports posted by this thread so far. */
  #posted = 0;
  /** The latest report of each task that waits for the pool to catch up. */
  readonly #waiting = new Map<RunningTask, unknown>();
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** Reports through `post`; `counters` is the memory shared with the pool. */
  constructor(post: (message: FromWorker) => void, counters: () => Int32Array<ArrayBufferLike>) {
    this.#post = post;
    this.#counters = counters;
  }

  /**
   * Reports `value` for `task`, if its caller listens.
   *
   * @throws {DOMException} When it is sent at once and cannot be cloned.
   */
  report(task: RunningTask, value: unknown): void {
    if ((task.flags & PROGRESS) === 0) return;
    if (this.#caughtUp()) {
      this.#waiting.delete(task);
      this.#send(task, value);
    } else {
      this.#waiting.set(task, value);
      this.#timer ??= setTimeout(this.#retry, RETRY_MS);
    }
  }

  /** The task ends: its waiting report, if any, leaves now, ahead of its result. */
  finish(task: RunningTask): void {
    if (!this.#waiting.has(task)) return;
    const value = this.#waiting.get(task);
    this.#waiting.delete(task);
    this.#trySend(task, value);
  }

  #caughtUp(): boolean {
    return Atomics.load(this.#counters(), PROGRESS_HANDLED) >= this.#posted;
  }

  #send(task: RunningTask, value: unknown): void {
    this.#post({ t: "progress", id: task.id, value });
    this.#posted++;
    task.progressed = true;
  }

  /** Sends a report that waited; one that cannot be cloned is dropped (the task went on). */
  #trySend(task: RunningTask, value: unknown): void {
    try {
      this.#send(task, value);
    } catch {
      // Reported by the call that made it, had it left at once; a newer one may follow.
    }
  }

  readonly #retry = (): void => {
    this.#timer = undefined;
    if (this.#waiting.size === 0) return;
    if (this.#caughtUp()) {
      const waiting = [...this.#waiting];
      this.#waiting.clear();
      for (const [task, value] of waiting) this.#trySend(task, value);
    } else {
      this.#timer = setTimeout(this.#retry, RETRY_MS);
    }
  };
}
