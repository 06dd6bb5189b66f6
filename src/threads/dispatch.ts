/**
 * Main thread, the Web Worker engine: sending queued jobs to workers. Each
 * goes to the least loaded worker with room ({@linkcode roomiest}), through
 * that worker's lane when it fits, else in one message per worker per pull.
 *
 * @module
 */

import type { EngineHost } from "../core/engine.ts";
import type { Job } from "../core/job.ts";
import { errorMessage } from "../wire/error_wire.ts";
import type { Outcomes } from "./answers.ts";
import type { Lifecycle } from "./lifecycle.ts";
import { capacityOf, roomiest } from "./placement.ts";
import type { WorkerSlot } from "./worker_slot.ts";

/** Sends the engine's queued jobs to its live workers. */
export class Dispatch {
  /** The engine's live slots (its own array, which it changes). */
  readonly #slots: readonly WorkerSlot[];
  readonly #lifecycle: Lifecycle;
  /** Where a job that cannot be sent ends (forgotten by its slot there). */
  readonly #outcomes: Outcomes;
  readonly #batches = new Map<WorkerSlot, Job[]>();
  /** Slots sent something by their lane in this pull. */
  readonly #laned = new Set<WorkerSlot>();
  // Made once: roomiest() calls them for every job.
  readonly #capacity: (slot: WorkerSlot) => number;
  readonly #due = (slot: WorkerSlot): boolean => this.#lifecycle.dueForRecycling(slot);
  readonly #recycle = (slot: WorkerSlot): void => this.#lifecycle.recycle(slot);

  constructor(
    slots: readonly WorkerSlot[],
    options: { concurrency: number; prefetch: number; handAhead: boolean },
    lifecycle: Lifecycle,
    outcomes: Outcomes,
  ) {
    this.#slots = slots;
    this.#lifecycle = lifecycle;
    this.#outcomes = outcomes;
    this.#capacity = options.handAhead
      ? (slot) => capacityOf(slot, options.concurrency, options.prefetch)
      : () => options.concurrency;
  }

  /**
   * Sends `host`'s queued jobs to the least loaded workers that have room,
   * one message per worker.
   */
  pull(host: EngineHost): void {
    const batches = this.#batches;
    const now = performance.now();
    for (;;) {
      const best = roomiest(this.#slots, this.#capacity, this.#due, this.#recycle);
      if (best === undefined) break;
      const job = host.take(now);
      if (job === undefined) break;
      if (best.thread === null) {
        const error = this.#lifecycle.start(best);
        if (error !== undefined) {
          host.settle(job, false, error, now);
          continue;
        }
      }
      if (best.load === 0) best.beginBusy(now);
      job.place = best;
      job.seq = best.sent++;
      best.inflight.set(job.id, job);
      if (best.sendByLane(job)) {
        this.#laned.add(best);
        continue;
      }
      let batch = batches.get(best);
      if (batch === undefined) batches.set(best, batch = []);
      batch.push(job);
    }
    let refused = 0;
    for (const [slot, jobs] of batches) refused += post(slot, jobs, this.#outcomes);
    batches.clear();
    for (const slot of this.#laned) slot.flushLane();
    this.#laned.clear();
    if (refused > 0) {
      // They held room no answer will free: what waits behind them goes now.
      host.pull();
      host.roomChanged();
    }
  }
}

/**
 * Posts a batch; if it cannot be sent whole, sends what can be, one by one.
 * A job that cannot be sent keeps its place in the thread's order as a
 * placeholder, which the thread takes and does not answer; the job fails
 * with a TypeError. Returns how many failed so.
 */
function post(slot: WorkerSlot, jobs: Job[], outcomes: Outcomes): number {
  try {
    slot.sendTasks(jobs);
    return 0;
  } catch {
    // Some job's arguments cannot be cloned: find it, and keep the others.
  }
  let refused = 0;
  for (const job of jobs) {
    try {
      slot.sendTasks([job]);
    } catch (error) {
      slot.sendVoid(job.seq);
      const message = `Cannot send the arguments of task "${job.task.name}" to a worker: ${
        errorMessage(error)
      }`;
      outcomes.settle(job, false, new TypeError(message, { cause: error }));
      refused++;
    }
  }
  return refused;
}
