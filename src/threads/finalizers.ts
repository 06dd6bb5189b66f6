/**
 * Main thread, the Web Worker engine: threads running the pool's finalizer.
 * A thread that stops gracefully is let go by its worker (which may start a
 * fresh one at once) and kept here until its finalizer has ended, failed, or
 * run out of time; then it is terminated.
 *
 * @module
 */

import { TaskTimeoutError } from "../core/errors.ts";
import type { ResolvedTask } from "../core/task.ts";
import type { WireError } from "../wire/error_wire.ts";
import type { FromWorker, ToWorker } from "../wire/protocol.ts";

/** A task run on each thread at its start or its end, checked. */
export interface ThreadHook {
  task: ResolvedTask;
  args: readonly unknown[];
  /** Milliseconds it may take on a thread. */
  timeout: number;
}

/** The finalizer's failure as its pool reports it, from the error that crossed. */
export type FinalizerError = (wire: WireError, task: ResolvedTask) => Error;

/** The threads whose finalizer runs now. */
export class Finalizers {
  readonly #hook: ThreadHook;
  readonly #taskError: FinalizerError;
  /** Each finalizing thread: what ends it now, and what resolves once it has ended. */
  readonly #running = new Map<Worker, { end: (error?: Error) => void; ended: Promise<unknown> }>();

  /** Creates the finalizing of `hook`; `taskError` rebuilds its failures. */
  constructor(hook: ThreadHook, taskError: FinalizerError) {
    this.#hook = hook;
    this.#taskError = taskError;
  }

  /** Threads running their finalizer. */
  get size(): number {
    return this.#running.size;
  }

  /**
   * Runs the finalizer on `thread` (of worker #`worker`), which will be sent
   * nothing else, and terminates it once the finalizer ends or its time is
   * up. Resolves then, with the finalizer's failure if it failed.
   */
  run(thread: Worker, worker: number): Promise<Error | undefined> {
    const { task, args, timeout } = this.#hook;
    const { promise, resolve } = Promise.withResolvers<Error | undefined>();
    const end = (error?: Error): void => {
      if (!this.#running.delete(thread)) return;
      clearTimeout(timer);
      thread.terminate();
      resolve(error);
    };
    const timer = timeout === Infinity ? undefined : setTimeout(() =>
      end(
        new TaskTimeoutError(
          `The finalizer "${task.name}" of ${task.href} did not finish within ${timeout} ms on worker #${worker}; its thread was stopped`,
        ),
      ), timeout);
    thread.onmessage = (event: MessageEvent<FromWorker>) => {
      const message = event.data;
      if (message.t === "finalized") {
        end(message.error === undefined ? undefined : this.#taskError(message.error, task));
      } else if (message.t === "fatal") {
        end(this.#taskError(message.error, task));
      } else if (message.t === "initFailed") {
        end(); // the thread never became what the finalizer cleans up after
      } else if (message.t === "exit") {
        end(new Error(`Worker #${worker} ended during its finalizer: ${message.how}`));
      }
    };
    thread.onerror = (event) => {
      event.preventDefault();
      end(
        new Error(`Worker #${worker} had an uncaught error during its finalizer: ${event.message}`),
      );
    };
    thread.onmessageerror = () => end();
    this.#running.set(thread, { end, ended: promise });
    const message: ToWorker = {
      t: "finalize",
      finalizer: [task.href, task.name, args as unknown[]],
    };
    thread.postMessage(message);
    return promise;
  }

  /** Resolves when every finalizer running now has ended. */
  async ended(): Promise<void> {
    await Promise.all([...this.#running.values()].map(({ ended }) => ended));
  }

  /** Terminates every finalizing thread now: the pool is closed with force. */
  terminateAll(): void {
    for (const { end } of [...this.#running.values()]) end();
  }
}
