/**
 * Main thread, the Web Worker engine: the pool's workers, what their threads
 * report, stealing, and their lifecycle (idle stops, recycling, dismissal,
 * loss). Sending jobs to them is {@linkcode Dispatch}'s; cancelled tasks that
 * will not stop are handled by {@linkcode Abandonment}. The front's work
 * queue hands jobs in and takes outcomes back through the `Engine` seam.
 *
 * @module
 */

import type { Engine, EngineHost, EngineWorkers } from "../core/engine.ts";
import { WorkerLostError } from "../core/errors.ts";
import type { Job, Sink } from "../core/job.ts";
import type { ResolvedTask } from "../core/task.ts";
import type { WireError } from "../wire/error_wire.ts";
import { fromWireError } from "../wire/error_wire.ts";
import type { FromWorker } from "../wire/protocol.ts";
import { Abandonment } from "./abandonment.ts";
import { endLostJobs, LaneReader, type Outcomes, readResults, readReturned } from "./answers.ts";
import type { ThreadHook } from "./finalizers.ts";
import { Lifecycle } from "./lifecycle.ts";
import { Dispatch } from "./dispatch.ts";
import { recallFrom, stealFrom } from "./placement.ts";
import type { WorkerGrant } from "./permissions.ts";
import { taskError } from "./task_error.ts";
import { assertWorkerScriptsReadable } from "./worker_scripts.ts";
import { type SlotHost, type WorkerExitReason, WorkerSlot } from "./worker_slot.ts";

/** What the engine tells its pool, which turns it into events. */
export interface ThreadEngineEvents {
  /** A worker's thread stopped. */
  workerExit(worker: number, reason: WorkerExitReason, error?: Error): void;
  /** Something went wrong that belongs to no request. */
  error(error: Error): void;
}

/** What the engine is built with, checked by the pool's config. */
export interface ThreadEngineOptions {
  idleTimeout: number;
  concurrency: number;
  prefetch: number;
  name: string;
  cancelGrace: number;
  maxTasksPerWorker: number;
  /** The workers' own permissions; null: they inherit this thread's. */
  grant: WorkerGrant | null;
  /** Run on every new thread before its first task; null: none. */
  initializer: ThreadHook | null;
  /** Run on every thread that stops gracefully, after its last task; null: none. */
  finalizer: ThreadHook | null;
  /** Whether small tasks travel by a shared-memory lane. */
  lane: boolean;
  /** Whether a busy worker is handed tasks ahead of those it runs (not under a rate limit). */
  handAhead: boolean;
}

/** Runs jobs on Web Workers. */
export class ThreadEngine implements Engine, SlotHost {
  readonly #slots: WorkerSlot[] = [];
  readonly #dismissed: WorkerSlot[] = [];
  readonly #options: ThreadEngineOptions;
  readonly #events: ThreadEngineEvents;
  readonly #lanes = new LaneReader();
  readonly #abandonment: Abandonment;
  readonly #lifecycle: Lifecycle;
  readonly #dispatch: Dispatch;
  /** Where the jobs of a thread's answers go. */
  readonly #outcomes: Outcomes = {
    settle: (job, ok, value, now) => this.#settle(job, ok, value, now),
    requeue: (job) => this.#requeue(job),
    answered: (slot, seq) => this.#abandonment.answered(slot, seq),
    // A sandboxed worker's denial is said to be the pool's.
    taskError: (wire, task) => taskError(wire as WireError, task, this.#options.grant !== null),
  };
  #host!: EngineHost;
  #nextSlot = 0;
  /** Counters of threads lost and replaced, for stats(). */
  readonly #counts = { lost: 0, abandoned: 0 };

  /**
   * Creates an engine with no workers.
   *
   * @throws {Deno.errors.NotCapable} When this program may not read the worker scripts.
   */
  constructor(options: ThreadEngineOptions, events: ThreadEngineEvents) {
    assertWorkerScriptsReadable();
    this.#options = options;
    this.#events = events;
    this.#lifecycle = new Lifecycle(options, {
      onMessage: (slot, message) => this.onMessage(slot, message),
      onLost: (slot, how, error) => this.onLost(slot, how, error),
      onLaneResults: (slot) => this.onLaneResults(slot),
      exited: (slot, why, error) => {
        events.workerExit(slot.id, why, error);
        // A finalizer ended: close() may be waiting for it.
        this.#host.changed();
      },
      waitingForRoom: () => this.#host.waitingForRoom,
      taskError: (wire, task) => this.#outcomes.taskError(wire, task),
      finalizerFailed: (error) => events.error(error),
    });
    this.#dispatch = new Dispatch(this.#slots, options, this.#lifecycle, this.#outcomes);
    this.#abandonment = new Abandonment(options.cancelGrace, {
      replace: (slot) => {
        this.#counts.abandoned++;
        const index = this.#slots.indexOf(slot);
        if (index === -1) return false;
        this.#slots[index] = new WorkerSlot(++this.#nextSlot);
        return true;
      },
      requeue: (job) => this.#requeue(job),
      lost: (slot, how) => this.onLost(slot, how, undefined, "abandoned"),
      stop: (slot, reason) => {
        this.#readLane(slot);
        this.#lifecycle.stop(slot, reason);
        if (slot.dismissed) this.#retire(slot);
      },
      changed: () => {
        this.#host.pull();
        this.#host.changed();
      },
    });
  }

  attach(host: EngineHost): void {
    this.#host = host;
  }

  admit(task: ResolvedTask): void {
    this.#options.grant?.admit(task);
  }

  /** Live workers. */
  get size(): number {
    return this.#slots.length;
  }

  /** Tasks one worker runs at once. */
  get concurrency(): number {
    return this.#options.concurrency;
  }

  /** Dismissed workers not yet forgotten. */
  get dismissed(): readonly WorkerSlot[] {
    return this.#dismissed;
  }

  handedAhead(): number {
    // Plain loops: admission asks for this whenever producers wait for room.
    let handedAhead = 0;
    for (const slot of this.#slots) handedAhead += slot.handedAhead();
    for (const slot of this.#dismissed) handedAhead += slot.handedAhead();
    for (const slot of this.#abandonment.slots) handedAhead += slot.handedAhead();
    return handedAhead;
  }

  running(): number {
    let running = 0;
    for (const slot of this.#all()) running += slot.inflight.size - slot.handedAhead();
    return Math.max(0, running);
  }

  utilisation(): number[] {
    const now = performance.now();
    return this.#slots.map((slot) => slot.utilisation(now));
  }

  workers(): EngineWorkers {
    return {
      live: this.#slots.length,
      dismissed: this.#dismissed.length,
      ...this.#counts,
      recycled: this.#lifecycle.recycled,
    };
  }

  /** Threads given up on because a cancelled task on them would not stop. */
  get abandoned(): number {
    return this.#counts.abandoned;
  }

  /** Threads replaced fresh by design. */
  get recycled(): number {
    return this.#lifecycle.recycled;
  }

  /** Threads running now, those running their finalizer included. */
  get liveThreads(): number {
    let live = this.#lifecycle.finalizing;
    for (const slot of this.#all()) if (slot.thread !== null) live++;
    return live;
  }

  /**
   * Adds workers and starts their threads. `lazily` (a new pool without an
   * initializer, which is best run before work comes): only the first, its
   * idle clock once it is ready; the others when there is work for them.
   * Starting a thread holds this one for 15–20 ms, and the first timer of a
   * process loads Deno's timers (6–16 ms): a first task must wait for
   * neither. With a grant, a thread starts at the first task, granted its
   * module. A thread that cannot start now is tried again when there is work.
   */
  addWorkers(count: number, lazily = false): void {
    const { grant, initializer } = this.#options;
    const firstOnly = lazily && initializer === null;
    for (let i = 0; i < count; i++) {
      const slot = new WorkerSlot(++this.#nextSlot);
      this.#slots.push(slot);
      if (grant !== null || (firstOnly && i > 0)) continue;
      if (this.#lifecycle.start(slot) === undefined && !firstOnly) this.#lifecycle.armIdle(slot);
    }
    this.#host.pull();
    this.#host.changed();
  }

  /**
   * Dismisses the newest `count` workers: from now on they start nothing, and
   * each exits once what it is running has finished.
   */
  dismiss(count: number): WorkerSlot[] {
    const victims = this.#slots.splice(Math.max(0, this.#slots.length - count));
    for (const slot of victims) {
      this.#dismissed.push(slot);
      slot.dismiss();
      if (slot.load === 0) this.#retire(slot);
    }
    this.#host.changed();
    return victims;
  }

  /** Forgets dismissed workers that have exited. */
  forget(slots: readonly WorkerSlot[]): void {
    for (const slot of slots) {
      const index = this.#dismissed.indexOf(slot);
      if (index !== -1) this.#dismissed.splice(index, 1);
    }
  }

  canDeliver(sink: Sink): boolean {
    if (this.#slots.length > 0) return true;
    for (const slot of this.#all()) {
      for (const job of slot.inflight.values()) if (job.sink === sink) return true;
    }
    return false;
  }

  reportStarts(on: boolean): void {
    for (const slot of this.#slots) slot.reportStarts(on);
  }

  windingDown(): boolean {
    for (const slot of this.#all()) if (slot.zombies.size > 0) return true;
    return false;
  }

  pull(): void {
    this.#dispatch.pull(this.#host);
  }

  /**
   * The front ended a job early. Its thread is told (a flag in shared
   * memory, then a message), and holds the task as a zombie until it
   * answers; if it was running and does not stop within `cancelGrace`, the
   * thread is given up.
   */
  cancel(job: Job, timedOut: boolean): void {
    const slot = job.place as WorkerSlot;
    const running = slot.cancel(job.seq);
    slot.inflight.delete(job.id);
    slot.post({ t: "cancel", id: job.id, timeout: timedOut });
    this.#abandonment.watch(slot, job.seq, running);
  }

  async shutdown(): Promise<void> {
    for (const slot of this.#slots) this.#lifecycle.stop(slot, "closed");
    for (const slot of this.#dismissed) this.#retire(slot);
    this.#abandonment.stopAll();
    this.#host.changed();
    await this.#lifecycle.finalized();
  }

  terminate(): Job[] {
    this.#lifecycle.force();
    const jobs: Job[] = [];
    for (const slot of this.#all()) {
      this.#readLane(slot);
      const held = [...slot.inflight.values()];
      // A thread given up on was counted then.
      if (!slot.condemned && (slot.zombies.size > 0 || held.some((j) => j.seq < slot.started()))) {
        this.#counts.abandoned++;
      }
      this.#lifecycle.stop(slot, "closed");
      slot.inflight.clear();
      for (const job of held) jobs.push(job);
    }
    return jobs;
  }

  /** A message from a worker's current thread. */
  onMessage(slot: WorkerSlot, message: FromWorker): void {
    switch (message.t) {
      case "done":
        readResults(slot, message.results, performance.now(), this.#outcomes);
        slot.received += message.results.length / 4;
        this.#afterProgress(slot);
        return;
      case "started": {
        const job = message.id === undefined ? undefined : slot.inflight.get(message.id);
        if (job !== undefined) this.#host.began(job, message.at);
        else this.#host.roomChanged();
        return;
      }
      case "yield":
        slot.inflight.get(message.id)?.stream?.values(message.values);
        return;
      case "progress": {
        const job = slot.inflight.get(message.id);
        try {
          job?.progress?.(message.value);
        } finally {
          slot.progressHandled();
        }
        return;
      }
      case "ready":
        slot.ready = true;
        if (slot.initTimer !== undefined) clearTimeout(slot.initTimer);
        this.#lifecycle.armIdleSoon(slot);
        return;
      case "initFailed": {
        const error = this.#outcomes.taskError(message.error, this.#options.initializer!.task);
        this.onLost(slot, `its initializer failed: ${error.cause}`, error);
        return;
      }
      case "returned":
        readReturned(slot, message.ids, this.#outcomes);
        this.#afterProgress(slot);
        return;
      case "fatal": {
        const error = fromWireError(message.error);
        this.onLost(slot, `it had an uncaught error: ${error.name}: ${error.message}`, error);
        return;
      }
      case "exit":
        this.onLost(slot, message.how);
        return;
      case "pong":
        this.#abandonment.pong(slot);
        return;
      case "lane":
        slot.lane?.doorbell();
        return;
    }
  }

  /** Results came by a thread's lane. */
  onLaneResults(slot: WorkerSlot): void {
    if (this.#readLane(slot)) this.#afterProgress(slot);
  }

  /** Settles the jobs whose results wait in the slot's lane; says whether there were any. */
  #readLane(slot: WorkerSlot): boolean {
    return this.#lanes.read(slot, this.#outcomes);
  }

  /** A worker's thread died: see {@linkcode endLostJobs} for what becomes of its jobs. */
  onLost(slot: WorkerSlot, how: string, error?: Error, reason: WorkerExitReason = "lost"): void {
    // Results it finished and sent by its lane are not lost with it.
    this.#readLane(slot);
    const started = slot.started();
    const loaded = slot.ready;
    // Finished results the thread held back to send together are not lost with it.
    const held = slot.heldResults();
    const cause = error ?? new Error(how);
    if (reason === "lost") this.#counts.lost++;
    this.#lifecycle.stop(slot, reason, cause);
    const failed = endLostJobs(slot, { how, cause, started, loaded }, held, this.#outcomes);
    if (reason === "lost" && failed === 0) {
      // Nothing was running: no request can carry this error.
      const lost = new WorkerLostError(`Worker #${slot.id} was lost while idle: ${how}`, { cause });
      this.#events.error(lost);
    }
    if (slot.condemned) this.#abandonment.forget(slot);
    if (slot.dismissed) this.#retire(slot);
    this.#host.pull();
    this.#host.roomChanged();
    this.#host.changed();
  }

  /** Forgets a job and hands its outcome to the front. */
  #settle(job: Job, ok: boolean, value: unknown, now?: number): void {
    (job.place as WorkerSlot).inflight.delete(job.id);
    this.#host.settle(job, ok, value, now);
  }

  /** Forgets a job that never ran here and gives it back to the front's queue. */
  recall(priority: number): void {
    const taken = recallFrom(this.#slots, priority);
    // Each goes to the head of its queue: the last first, so that they keep their order.
    for (let i = taken.length - 1; i >= 0; i--) this.#requeue(taken[i]!);
  }

  #requeue(job: Job): void {
    (job.place as WorkerSlot).inflight.delete(job.id);
    this.#host.giveBack(job);
  }

  #afterProgress(slot: WorkerSlot): void {
    if (slot.condemned) {
      this.#abandonment.progressed(slot);
    } else if (slot.load === 0) {
      slot.endBusy();
      if (slot.dismissed) {
        this.#retire(slot);
      } else {
        if (this.#host.backlog === 0) {
          for (const job of stealFrom(this.#slots, this.#options.concurrency)) this.#requeue(job);
        }
        if (this.#lifecycle.dueForRecycling(slot)) this.#lifecycle.recycle(slot);
        else this.#lifecycle.armIdleSoon(slot);
      }
    }
    this.#host.pull();
    this.#host.roomChanged();
  }

  #retire(slot: WorkerSlot): void {
    this.#lifecycle.retire(slot);
    this.#host.changed();
  }

  /** Every slot with a thread that may still run work: live, dismissed, given up. */
  *#all(): Iterable<WorkerSlot> {
    yield* this.#slots;
    yield* this.#dismissed;
    yield* this.#abandonment.slots;
  }
}
