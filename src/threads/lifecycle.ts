/**
 * Main thread, the Web Worker engine: a worker's thread from start to stop —
 * starting it (with its permissions and initializer), stopping it when idle
 * (an idle Web Worker would keep the process alive, and Deno has no
 * `unref()` for one: denoland/deno#14318), replacing it fresh when it is due
 * for recycling, and saying why each thread stopped.
 *
 * @module
 */

import { WorkerLostError } from "../core/errors.ts";
import type { ResolvedTask } from "../core/task.ts";
import { errorMessage } from "../wire/error_wire.ts";
import type { WorkerGrant } from "./permissions.ts";
import type { SlotHost, WorkerExitReason, WorkerSlot } from "./worker_slot.ts";

/** A thread's initializer, checked. */
export interface InitializerSettings {
  task: ResolvedTask;
  args: readonly unknown[];
  /** Milliseconds it may take before the thread is given up. */
  timeout: number;
}

/** What a lifecycle is built with. */
export interface LifecycleOptions {
  idleTimeout: number;
  concurrency: number;
  name: string;
  maxTasksPerWorker: number;
  grant: WorkerGrant | null;
  initializer: InitializerSettings | null;
  lane: boolean;
}

/** What the lifecycle tells the engine. */
export interface LifecycleHost extends SlotHost {
  /** A thread stopped, for `why`. */
  exited(slot: WorkerSlot, why: WorkerExitReason, error?: Error): void;
  /** Whether producers wait for room, so that a new thread reports its starts. */
  waitingForRoom(): boolean;
}

/** Starts and stops the engine's threads. */
export class Lifecycle {
  readonly #options: LifecycleOptions;
  readonly #host: LifecycleHost;
  /** Threads replaced fresh, for stats(). */
  recycled = 0;

  /** Creates the lifecycle of an engine's threads. */
  constructor(options: LifecycleOptions, host: LifecycleHost) {
    this.#options = options;
    this.#host = host;
  }

  /** Starts the slot's thread; returns why it could not, as the error its jobs get. */
  start(slot: WorkerSlot): WorkerLostError | undefined {
    const { concurrency, name, grant, initializer, lane } = this.#options;
    try {
      const permissions = grant?.options();
      slot.start(this.#host, { concurrency, name, permissions, initializer, lane });
    } catch (error) {
      return new WorkerLostError(`Worker #${slot.id} could not start: ${errorMessage(error)}`, {
        cause: error,
      });
    }
    slot.grantVersion = grant?.version ?? 0;
    if (initializer !== null && initializer.timeout !== Infinity) {
      const how = `its initializer did not finish within ${initializer.timeout} ms`;
      slot.initTimer = setTimeout(() => this.#host.onLost(slot, how), initializer.timeout);
    }
    if (this.#host.waitingForRoom()) slot.reportStarts(true);
    return undefined;
  }

  /** Stops a slot's thread, and says so if it had one. */
  stop(slot: WorkerSlot, why: WorkerExitReason, error?: Error): void {
    const had = slot.thread !== null;
    slot.stop();
    if (had) this.#host.exited(slot, why, error);
  }

  /** A dismissed slot's thread is gone: whoever joins it may go on. */
  retire(slot: WorkerSlot): void {
    this.stop(slot, "dismissed");
    slot.exited.resolve();
  }

  /**
   * Whether the slot's thread has run its `maxTasksPerWorker` tasks, or was
   * started before the grant took in a task module it would have to import.
   */
  dueForRecycling(slot: WorkerSlot): boolean {
    const { maxTasksPerWorker, grant } = this.#options;
    return (maxTasksPerWorker > 0 && slot.sent >= maxTasksPerWorker) ||
      (grant !== null && slot.grantVersion < grant.version);
  }

  /**
   * Stops an idle thread for a fresh one, started when there is work. Web
   * Workers have no memory limit: a fresh thread is how leaks are contained;
   * and a thread's permissions are fixed when it starts.
   */
  recycle(slot: WorkerSlot): void {
    this.stop(slot, "recycled");
    this.recycled++;
  }

  /**
   * As {@linkcode Lifecycle.armIdle}, in a microtask: after the outcome being
   * delivered now reaches its caller. The first timer of a process loads
   * Deno's timers (6–16 ms here), which must not hold back a first result.
   */
  armIdleSoon(slot: WorkerSlot): void {
    if (slot.thread === null || this.#options.idleTimeout === Infinity) return;
    // Already armed: only its clock restarts, at no cost (and no closure per answer).
    if (slot.idleTimer !== undefined) this.armIdle(slot);
    else {
      queueMicrotask(() => {
        if (slot.load === 0) this.armIdle(slot);
      });
    }
  }

  /** Stops the slot's thread once it has been idle for `idleTimeout`. */
  armIdle(slot: WorkerSlot): void {
    if (slot.thread === null || this.#options.idleTimeout === Infinity) return;
    slot.idleSince = performance.now();
    if (slot.idleTimer === undefined) this.#idleTimerFor(slot, this.#options.idleTimeout);
  }

  #idleTimerFor(slot: WorkerSlot, delay: number): void {
    slot.idleTimer = setTimeout(() => {
      slot.idleTimer = undefined;
      if (slot.thread === null || slot.load > 0) return;
      const left = slot.idleSince + this.#options.idleTimeout - performance.now();
      if (left > 1) this.#idleTimerFor(slot, left);
      else this.stop(slot, "idle");
    }, delay);
    // The timer must not itself keep the process alive.
    Deno.unrefTimer(slot.idleTimer as unknown as number);
  }
}
