/**
 * Main thread, the Web Worker engine: what becomes of a task the front
 * cancelled while a worker held it. The thread is told and the task is held
 * as a zombie until the thread answers. If it was running and does not stop
 * within `cancelGrace`, the thread is given up: a fresh worker takes its
 * place, it starts nothing more, what it had not begun runs elsewhere, and it
 * is stopped once the tasks beside the cancelled one have ended, so that they
 * pay nothing for it. Only a thread that stays stuck fails them.
 *
 * @module
 */

import type { Job } from "../core/job.ts";
import { takeBack } from "./placement.ts";
import type { WorkerExitReason, WorkerSlot } from "./worker_slot.ts";

/**
 * A given-up thread that stays silent this many checks in a row, each
 * `cancelGrace` long, busy with no task still wanted, is stuck: the tasks
 * beside the cancelled one cannot end, and fail.
 */
const STRIKES = 2;
/** The shortest wait between those checks, for a pool whose `cancelGrace` is 0. */
const MIN_PROBE_MS = 10;

/** What abandonment needs from the engine. */
export interface AbandonmentHost {
  /** Counts a thread given up, puts a fresh worker in its place; false if it was not live. */
  replace(slot: WorkerSlot): boolean;
  /** Gives a job the thread never began back to the queue. */
  requeue(job: Job): void;
  /** The thread is stuck: fail what runs on it, as for a lost worker. */
  lost(slot: WorkerSlot, how: string): void;
  /** Stops the slot's thread (retiring a dismissed slot). */
  stop(slot: WorkerSlot, reason: WorkerExitReason): void;
  /** Capacity or state changed. */
  changed(): void;
}

/** Cancelled tasks on workers, and the threads given up for them. */
export class Abandonment {
  /** Threads given up and replaced, still finishing the tasks beside the one that would not stop. */
  readonly slots: WorkerSlot[] = [];
  readonly #grace: number;
  readonly #host: AbandonmentHost;

  /** Gives cancelled tasks `grace` milliseconds to stop. */
  constructor(grace: number, host: AbandonmentHost) {
    this.#grace = grace;
    this.#host = host;
  }

  /** The task `seq` on `slot` was cancelled; if it was `running`, it has the grace period to stop. */
  watch(slot: WorkerSlot, seq: number, running: boolean): void {
    // A grace of Infinity: a task that will not stop keeps its thread until it ends.
    const timer = running && this.#grace !== Infinity
      ? setTimeout(() => this.#abandon(slot, seq), this.#grace)
      : undefined;
    slot.zombies.set(seq, timer);
  }

  /** The thread answered for task `seq`, which the pool had let go: it holds capacity no more. */
  answered(slot: WorkerSlot, seq: number): void {
    if (!slot.zombies.has(seq)) return;
    clearTimeout(slot.zombies.get(seq));
    slot.zombies.delete(seq);
    this.#host.changed();
  }

  /** A given-up thread answered a check: whatever runs on it can still end. */
  pong(slot: WorkerSlot): void {
    clearTimeout(slot.probeTimer);
    slot.strikes = 0;
    slot.probeTimer = setTimeout(() => this.#probe(slot), this.#interval());
  }

  /** A given-up thread made progress: it is stopped once nothing it runs is still wanted. */
  progressed(slot: WorkerSlot): void {
    if (slot.thread === null) return;
    if (slot.inflight.size === 0) {
      this.#bury(slot, "abandoned");
    } else if (slot.strikes >= STRIKES) {
      this.#giveUp(slot);
    } else if (slot.probeTimer === undefined) {
      this.#probe(slot);
    }
  }

  /** A given-up thread has gone. */
  forget(slot: WorkerSlot): void {
    const index = this.slots.indexOf(slot);
    if (index !== -1) this.slots.splice(index, 1);
  }

  /** Stops every given-up thread: the pool is closing. */
  stopAll(): void {
    for (const slot of [...this.slots]) this.#bury(slot, "closed");
  }

  /** A cancelled task did not stop within the grace period: give up on its thread. */
  #abandon(slot: WorkerSlot, seq: number): void {
    // Stopped in time: its answer is on the way, and will clear the zombie.
    if (!slot.zombies.has(seq) || slot.endedAfterCancel(seq) || slot.condemned) return;
    slot.condemn();
    this.#takeBack(slot);
    if (this.#host.replace(slot)) this.slots.push(slot);
    this.progressed(slot);
    this.#host.changed();
  }

  /**
   * Takes back, for other workers, the tasks handed ahead to `slot` that its
   * thread has not begun: at once, even if the thread is stuck and cannot
   * hand them back itself. Those `takeBack` cannot take come back when the
   * thread answers or stops.
   */
  #takeBack(slot: WorkerSlot): void {
    for (const job of [...slot.inflight.values()]) {
      if (takeBack(slot, job)) this.#host.requeue(job);
    }
  }

  /**
   * Asks a given-up thread to answer. A thread stuck in synchronous code
   * cannot: if it stays silent while no task still wanted is the one running
   * (the cancelled task is, or some async code is), that counts against it.
   */
  #probe(slot: WorkerSlot): void {
    slot.post({ t: "ping" });
    const check = (): void => {
      const running = slot.runningSeq();
      let wanted = false;
      for (const job of slot.inflight.values()) if (job.seq === running) wanted = true;
      // A task still wanted is computing: its own timeout bounds it, not ours.
      slot.strikes = wanted ? 0 : slot.strikes + 1;
      if (slot.strikes >= STRIKES) this.#giveUp(slot);
      else slot.probeTimer = setTimeout(check, this.#interval());
    };
    slot.probeTimer = setTimeout(check, this.#interval());
  }

  #interval(): number {
    return Math.max(this.#grace, MIN_PROBE_MS);
  }

  /**
   * The given-up thread would not let the tasks beside the cancelled one
   * end: they fail, and it is stopped. Results it had posted are awaited
   * first; results it held back are read from shared memory.
   */
  #giveUp(slot: WorkerSlot): void {
    if (!slot.allReceived()) return; // the next message brings them, and comes back here
    this.#host.lost(
      slot,
      `it was terminated: a task beside it was cancelled and would not stop (not within ${this.#grace} ms), ` +
        "and kept the thread from running this one",
    );
  }

  /** Stops a given-up thread whose work has ended. */
  #bury(slot: WorkerSlot, reason: WorkerExitReason): void {
    this.#host.stop(slot, reason);
    this.forget(slot);
    this.#host.changed();
  }
}
