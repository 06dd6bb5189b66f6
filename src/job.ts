/**
 * A request as the pool tracks it, from acceptance to its one final state,
 * and the sinks that hand that state to exactly one consumer.
 *
 * @module
 */

import type { ResolvedTask } from "./task.ts";
import type { WorkerSlot } from "./worker_slot.ts";

/** Where a job is. Every job ends in exactly one of SETTLED or DROPPED. */
/** Created, not yet accepted (it may be waiting for queue room). */
export const NEW = 4;
/** In the queue. */
export const QUEUED = 0;
/** Sent to a worker and not settled. */
export const SENT = 1;
/** Handed to its sink: final. */
export const SETTLED = 2;
/** Taken out of the queue because nobody wants its outcome any more: final. */
export const DROPPED = 3;

/** Receives a job's final outcome; one sink may serve many jobs. */
export interface Sink {
  /** Jobs of this sink sent to a worker and not settled; kept by the scheduler. */
  running: number;
  /** The job was accepted into the queue. */
  accept?(job: Job): void;
  /** Whether a job of this sink may start now (the result channel's bound). */
  mayStart?(): boolean;
  /** The job succeeded with `value`. */
  resolve(job: Job, value: unknown): void;
  /** The job failed with `error`. */
  reject(job: Job, error: Error): void;
}

/** Settles one promise: the sink of a `run()` call. */
export class PromiseSink implements Sink {
  /** Unused: a run() call has one job. */
  running = 0;
  readonly #resolve: (value: unknown) => void;
  readonly #reject: (error: Error) => void;

  /** Wraps the two functions of a promise. */
  constructor(resolve: (value: unknown) => void, reject: (error: Error) => void) {
    this.#resolve = resolve;
    this.#reject = reject;
  }

  /** Resolves the promise. */
  resolve(_job: Job, value: unknown): void {
    this.#resolve(value);
  }

  /** Rejects the promise. */
  reject(_job: Job, error: Error): void {
    this.#reject(error);
  }
}

/** One request in the pool. */
export interface Job {
  /** The pool's id, unique in the pool. */
  readonly id: number;
  /** The task to call. */
  readonly task: ResolvedTask;
  /** Its arguments, or with `chunk` one argument list per call. */
  readonly args: readonly unknown[];
  /** What to transfer with the arguments. */
  readonly transfer: readonly Transferable[];
  /** Whether `args` holds several calls. */
  readonly chunk: boolean;
  /** Who gets the outcome. */
  readonly sink: Sink;
  /** The sink's own data: the WorkRequest, or a map's chunk index. */
  readonly token: unknown;
  /** NEW, QUEUED, SENT, SETTLED or DROPPED. */
  state: number;
  /** The worker it was sent to, while SENT. */
  slot: WorkerSlot | null;
  /** Its sequence number on that worker's current thread, while SENT. */
  seq: number;
}
