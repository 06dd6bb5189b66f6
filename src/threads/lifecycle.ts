/**
 * Main thread, the Web Worker engine: a worker's thread from start to stop —
 * starting it (with its permissions and initializer), stopping it (after its
 * finalizer, when it stops gracefully) when idle
 * (an idle Web Worker would keep the process alive, and Deno has no
 * `unref()` for one: denoland/deno#14318), replacing it fresh when it is due
 * for recycling, and saying why each thread stopped.
 *
 * @module
 */

import { WorkerLostError } from "../core/errors.ts";
import type { ResolvedTask } from "../core/task.ts";
import { errorMessage, type WireError } from "../wire/error_wire.ts";
import { Finalizers, type ThreadHook } from "./finalizers.ts";
import type { WorkerGrant } from "./permissions.ts";
import type { SlotHost, WorkerExitReason, WorkerSlot } from "./worker_slot.ts";

/** Why a thread may stop with its finalizer run first: it did not die, and is not given up. */
const GRACEFUL: ReadonlySet<WorkerExitReason> = new Set([
  "idle",
  "dismissed",
  "recycled",
  "closed",
]);

/** What a lifecycle is built with. */
export interface LifecycleOptions {
  idleTimeout: number;
  concurrency: number;
  name: string;
  maxTasksPerWorker: number;
  grant: WorkerGrant | null;
  initializer: ThreadHook | null;
  finalizer: ThreadHook | null;
  lane: boolean;
}

/** What the lifecycle tells the engine. */
export interface LifecycleHost extends SlotHost {
  /** A thread stopped, for `why`. */
  exited(slot: WorkerSlot, why: WorkerExitReason, error?: Error): void;
  /** Whether producers wait for room, so that a new thread reports its starts. */
  waitingForRoom(): boolean;
  /** A finalizer's failure, rebuilt from what crossed. */
  taskError(wire: WireError, task: ResolvedTask): Error;
  /** A thread's finalizer failed: this belongs to no request. */
  finalizerFailed(error: Error): void;
}

/** Starts and stops the engine's threads. */
export class Lifecycle {
  readonly #options: LifecycleOptions;
  readonly #host: LifecycleHost;
  readonly #finalizers: Finalizers | null;
  /** Set by close({ force: true }): no finalizer runs from then on. */
  #forced = false;
  /** Threads replaced fresh, for stats(). */
  recycled = 0;

  /** Creates the lifecycle of an engine's threads. */
  constructor(options: LifecycleOptions, host: LifecycleHost) {
    this.#options = options;
    this.#host = host;
    const { finalizer } = options;
    this.#finalizers = finalizer === null
      ? null
      : new Finalizers(finalizer, (wire, task) => host.taskError(wire, task));
  }

  /** Threads stopped gracefully whose finalizer still runs. */
  get finalizing(): number {
    return this.#finalizers?.size ?? 0;
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

  /**
   * Stops a slot's thread, and says so if it had one. A thread that stops
   * gracefully runs the finalizer first, if the pool has one: the slot lets
   * it go at once (and may start another), and the returned promise
   * resolves once it has ended.
   */
  stop(slot: WorkerSlot, why: WorkerExitReason, error?: Error): Promise<void> | undefined {
    const finalizers = this.#forced || slot.condemned || !GRACEFUL.has(why)
      ? null
      : this.#finalizers;
    const had = slot.thread !== null;
    const thread = slot.stop(finalizers !== null);
    if (finalizers === null || thread === null) {
      if (had) this.#host.exited(slot, why, error);
      return undefined;
    }
    return finalizers.run(thread, slot.id).then((failure) => {
      if (failure !== undefined) this.#host.finalizerFailed(failure);
      this.#host.exited(slot, why, failure);
    });
  }

  /** A dismissed slot's thread is gone, its finalizer run: whoever joins it may go on. */
  retire(slot: WorkerSlot): void {
    const stopped = this.stop(slot, "dismissed");
    if (stopped === undefined) slot.exited.resolve();
    else void stopped.then(() => slot.exited.resolve());
  }

  /** Resolves when every finalizer running now has ended. */
  async finalized(): Promise<void> {
    await this.#finalizers?.ended();
  }

  /** From now on no finalizer runs, and those running are cut short: close({ force: true }). */
  force(): void {
    this.#forced = true;
    this.#finalizers?.terminateAll();
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
