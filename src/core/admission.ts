/**
 * Main thread, shared by the front and every engine: room in a bounded request queue: who may queue now, who waits for room (in
 * order), and when a queue that was found full has room again. The
 * scheduler owns the queue; this decides who gets into it.
 *
 * @module
 */

import { Deque } from "./deque.ts";
import { QueueFullError } from "./errors.ts";
import { type Job, NEW, type RoomWaiter } from "./job.ts";

/** What admission needs from the scheduler. */
export interface AdmissionHost {
  /** Requests waiting to start: queued, or handed ahead to a worker. */
  queued(): number;
  /** Queues an admitted job. */
  enqueue(job: Job): void;
  /** Asks workers to report each start, so that room is seen as it frees. */
  reportStarts(on: boolean): void;
  /** A queue that was found full has room again. */
  drain(): void;
}

/** Admits requests under `maxQueue` (`0`: no bound), oldest waiter first. */
export class Admission {
  readonly #waiters = new Deque<RoomWaiter>();
  readonly #maxQueue: number;
  readonly #host: AdmissionHost;
  #full = false; // a producer found the queue full, and no drain has followed

  /** Creates the admission of a queue bounded by `maxQueue`. */
  constructor(maxQueue: number, host: AdmissionHost) {
    this.#maxQueue = maxQueue;
    this.#host = host;
  }

  /** Whether producers wait for room, so that workers should report their starts. */
  get waiting(): boolean {
    return this.#waiters.length > 0;
  }

  /**
   * Queues the job now, or once there is room. A job whose signal has
   * already aborted is refused with the signal's reason.
   */
  admit(job: Job, block: boolean, timeout: number | undefined): Promise<void> | void {
    const { signal } = job;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#hasRoom()) {
      signal?.addEventListener("abort", job, { once: true });
      this.#host.enqueue(job);
      return;
    }
    this.#full = true;
    this.#host.reportStarts(true);
    if (!block) {
      return Promise.reject(
        new QueueFullError(
          `The request queue is full: ${this.#maxQueue} requests are waiting to start`,
        ),
      );
    }
    signal?.addEventListener("abort", job, { once: true });
    return this.#wait(job, timeout).finally(() => {
      if (job.state === NEW) signal?.removeEventListener("abort", job);
    });
  }

  /** Resolves when there is room (at once without a bound). */
  room(): Promise<void> {
    return this.#hasRoom() ? Promise.resolve() : this.#wait(null, undefined);
  }

  /** A job still waiting for room ends: its producer's call rejects with `error`. */
  refuse(job: Job, error: Error): void {
    const waiter = job.waiter;
    if (waiter === null || waiter.done) return;
    waiter.done = true;
    clearTimeout(waiter.timer);
    waiter.reject(error);
  }

  /** Rejects every producer still waiting for room. */
  refuseAll(error: () => Error): void {
    for (let w = this.#waiters.shift(); w !== undefined; w = this.#waiters.shift()) {
      if (w.done) continue;
      clearTimeout(w.timer);
      w.done = true;
      w.reject(error());
    }
  }

  /** Something started or ended: lets waiting producers in, oldest first, while there is room. */
  wake(): void {
    if (this.#waiters.length === 0 && !this.#full) return;
    let free = this.#maxQueue - this.#host.queued();
    while (this.#waiters.length > 0) {
      const waiter = this.#waiters.peek()!;
      if (!waiter.done) {
        if (free <= 0) return;
        clearTimeout(waiter.timer);
        waiter.done = true;
        if (waiter.job !== null) {
          this.#host.enqueue(waiter.job);
          free--;
        }
        waiter.resolve();
      }
      this.#waiters.shift();
    }
    this.#host.reportStarts(false);
    if (this.#full && this.#host.queued() < this.#maxQueue) {
      this.#full = false;
      this.#host.drain();
    }
  }

  /** Whether a new request may be queued now: no bound, or room and nobody waiting ahead. */
  #hasRoom(): boolean {
    return this.#maxQueue === 0 ||
      (this.#waiters.length === 0 && this.#host.queued() < this.#maxQueue);
  }

  #wait(job: Job | null, timeout: number | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: RoomWaiter = { job, resolve, reject, timer: undefined, done: false };
      if (job !== null) job.waiter = waiter;
      if (timeout !== undefined && timeout !== Infinity) {
        waiter.timer = setTimeout(() => {
          waiter.done = true;
          reject(
            new QueueFullError(
              `The request queue was still full after ${timeout} ms: ${this.#maxQueue} requests are waiting to start`,
            ),
          );
        }, timeout);
      }
      this.#waiters.push(waiter);
      this.#host.reportStarts(true);
      this.wake();
    });
  }
}
