/**
 * A request as the pool tracks it, from acceptance to its one final state,
 * and the sinks that hand that state to exactly one consumer.
 *
 * @module
 */

import type { ResolvedTask } from "../pool/task.ts";
import type { WorkerSlot } from "../threads/worker_slot.ts";

/** The transfer list of every request that transfers nothing: one array, not one per request. */
export const NO_TRANSFER: readonly Transferable[] = Object.freeze([]);

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

/**
 * The sink of every `run()` call: each job's token is its promise's
 * resolvers, so a call costs no sink object of its own.
 */
export const promiseSink: Sink = {
  running: 0,
  resolve(job: Job, value: unknown): void {
    (job.token as PromiseWithResolvers<unknown>).resolve(value);
  },
  reject(job: Job, error: Error): void {
    (job.token as PromiseWithResolvers<unknown>).reject(error);
  },
};

/** A producer waiting for queue room, with the job it will queue (if any). */
export interface RoomWaiter {
  job: Job | null;
  resolve(): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout> | undefined;
  done: boolean;
}

/** Whoever settles a job when its signal aborts. */
export interface JobOwner {
  /** Cancels the job with its signal's reason. */
  abort(job: Job): void;
}

/** How a job may end early. */
export interface JobLimits {
  /** Cancels the job when it aborts. */
  signal?: AbortSignal | undefined;
  /** Milliseconds the job may run, from its start. */
  timeout?: number | undefined;
}

/**
 * One request in the pool. It is its own abort listener (`handleEvent`), so
 * a signal costs no closure per request, and the listener goes when it settles.
 */
export class Job implements EventListenerObject {
  /** NEW, QUEUED, SENT, SETTLED or DROPPED. */
  state: number = NEW;
  /** The worker it was sent to, while SENT. */
  slot: WorkerSlot | null = null;
  /** Its sequence number on that worker's current thread, while SENT. */
  seq = 0;
  /** Its timeout timer, while running with a timeout. */
  timer: ReturnType<typeof setTimeout> | undefined = undefined;
  /** When it was accepted, and when it was sent to a worker (performance.now()). */
  queuedAt = 0;
  sentAt = 0;
  /** Set when its own signal ended it, for the statistics. */
  aborted = false;
  /** Its place among the producers waiting for queue room, while it waits. */
  waiter: RoomWaiter | null = null;

  /** Makes a job; the scheduler queues it. */
  constructor(
    readonly owner: JobOwner,
    readonly id: number,
    readonly task: ResolvedTask,
    readonly args: readonly unknown[],
    readonly transfer: readonly Transferable[],
    readonly sink: Sink,
    readonly token: unknown,
    readonly chunk: boolean,
    readonly signal: AbortSignal | undefined,
    readonly timeout: number | undefined,
  ) {}

  /** The signal aborted. */
  handleEvent(): void {
    this.owner.abort(this);
  }
}
