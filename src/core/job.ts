/**
 * Main thread, shared by the front and every engine: a request as the pool
 * tracks it, from acceptance to its one final state, and the sinks that
 * hand that state to exactly one consumer.
 *
 * @module
 */

import type { Retry } from "./retry.ts";
import type { ResolvedTask } from "./task.ts";

/** The transfer list of every request that transfers nothing: one array, not one per request. */
export const NO_TRANSFER: readonly Transferable[] = Object.freeze([]);

/** Created, not yet accepted (it may be waiting for queue room). */
export const NEW = 0;
/** In the queue. */
export const QUEUED = 1;
/** Taken by an engine and not settled: handed ahead to a worker, or running. */
export const SENT = 2;
/** Handed to its sink: final. */
export const SETTLED = 3;
/** Taken out of the queue because nobody wants its outcome any more: final. */
export const DROPPED = 4;
/** An attempt failed: waiting to be queued again, under its retry policy. */
export const DELAYED = 5;

/**
 * Where a job is; it only moves forward, except that an engine may give a
 * SENT job back, and a failed attempt goes from SENT to DELAYED and QUEUED again.
 */
export type JobState =
  | typeof NEW
  | typeof QUEUED
  | typeof SENT
  | typeof SETTLED
  | typeof DROPPED
  | typeof DELAYED;

/**
 * The value of a chunk job (several calls in one job): one outcome per call,
 * in order, each error already rebuilt as the caller should receive it.
 */
export type CallOutcome = [ok: true, value: unknown] | [ok: false, error: Error];

/** Receives a job's final outcome; one sink may serve many jobs. */
export interface Sink {
  /** Jobs of this sink taken by the engine and not settled; kept by the work queue. */
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
 * A thenable that rejects with `error`: what a `run()` promise is resolved
 * with to reject it. Not a rejected promise: the runtime tracks each rejected
 * promise that has no handler yet, and forgetting one when its handler comes
 * costs a scan of all the others (failing 50,000 queued requests at once took
 * 7 s that way, 100,000 took 34 s).
 */
class Rejection implements PromiseLike<never> {
  readonly #error: Error;
  constructor(error: Error) {
    this.#error = error;
  }
  then<A = never, B = never>(
    _fulfilled?: ((value: never) => A | PromiseLike<A>) | null,
    rejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): PromiseLike<A | B> {
    rejected?.(this.#error);
    return this as PromiseLike<never>;
  }
}

/**
 * The sink of every `run()` call: each job's token is its promise's
 * `resolve` function, so a call costs no sink object of its own, and no
 * `reject` function either: a failure resolves the promise with a thenable
 * that rejects, which it adopts.
 */
export const promiseSink: Sink = {
  running: 0,
  resolve(job: Job, value: unknown): void {
    (job.token as (value: unknown) => void)(value);
  },
  reject(job: Job, error: Error): void {
    (job.token as (value: unknown) => void)(new Rejection(error));
  },
};

/**
 * Where a stream job's values go, and how much room it has for them: the
 * engine that sends the job opens it, and gives it a way to make room.
 */
export interface StreamListener {
  /** How many values the task may be ahead of the reader, in all. */
  readonly highWaterMark: number;
  /**
   * The job is being sent; `grant(n)` lets it send `n` more values later.
   * `elsewhere`: how many values where it runs may make ahead of what it
   * sends (a node's own window), out of the stream's. Returns how many it
   * may send from the start.
   */
  open(grant: (n: number) => void, elsewhere?: number): number;
  /** Values the job made, in order. */
  values(values: readonly unknown[]): void;
}

/** A producer waiting for queue room, with the job it will queue (if any). */
export interface RoomWaiter {
  job: Job | null;
  resolve(): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout> | undefined;
  done: boolean;
}

/** What a job carries only under a retry policy or a rate limit. */
export interface JobPolicy {
  /** How a failed attempt is tried again; undefined: it is not. */
  retry: Retry | undefined;
  /** The errors of its failed attempts so far, once one has been tried again. */
  errors: unknown[] | null;
  /** The rate limit it starts under besides the pool's own; undefined: none. */
  rateKey: string | undefined;
  /** Set from when it is sent under a rate limit until its start is counted: its thread reports it. */
  limited: boolean;
  /** Told once when its task starts (its thread reports it), or by its end if it never did. */
  onStart: (() => void) | undefined;
}

/**
 * The option under which a caller within this module (a cluster node) asks
 * `run()` or `stream()` to tell it when the task starts on its thread: not a
 * public option, so keyed by a symbol no user holds.
 */
export const ON_START: unique symbol = Symbol("threadpool: told when the task starts");

/** A job's policy, made if it has none yet. */
export function policyOf(job: Job): JobPolicy {
  return job.policy ??= {
    retry: undefined,
    errors: null,
    rateKey: undefined,
    limited: false,
    onStart: undefined,
  };
}

/** Whoever settles a job when its signal aborts. */
export interface JobOwner {
  /** Cancels the job with its signal's reason. */
  abort(job: Job): void;
}

/** What a job is made of besides its task, arguments and token. */
export interface JobOptions {
  /** What in `args` to transfer rather than copy. */
  transfer: readonly Transferable[];
  /** Who receives the outcome. */
  sink: Sink;
  /** Whether `args` holds several calls, to be answered one outcome each. */
  chunk: boolean;
  /** Cancels the job when it aborts. */
  signal: AbortSignal | undefined;
  /** Milliseconds the job may run, from its start; undefined: no limit. */
  timeout: number | undefined;
  /** Hears the task's progress reports; undefined: nobody listens. */
  progress?: ((value: unknown) => void) | undefined;
  /** For a stream: where its values go; undefined: the task's result is its value. */
  stream?: StreamListener | undefined;
}

/** The options of a plain `run()` call: nothing to transfer, its promise the sink, no signal, no limit. */
const PLAIN_JOB: JobOptions = Object.freeze({
  transfer: NO_TRANSFER,
  sink: promiseSink,
  chunk: false,
  signal: undefined,
  timeout: undefined,
});

/** A checked timeout as a job holds it: `undefined` for no bound (`Infinity`, or none given). */
export function bound(ms: number | undefined): number | undefined {
  return ms === Infinity ? undefined : ms;
}

/**
 * One request in the pool. It is its own abort listener (`handleEvent`), so
 * a signal costs no closure per request, and the listener goes when it settles.
 */
export class Job implements EventListenerObject {
  /** Where the job is. */
  state: JobState = NEW;
  /** The engine's own record of where it put the job, while SENT (a worker, a node). */
  place: unknown = null;
  /** The engine's number for the job where it put it, while SENT. */
  seq = 0;
  /** Its timeout timer, while running with a timeout. */
  timer: ReturnType<typeof setTimeout> | undefined = undefined;
  /** When it was accepted, then when an engine took it (performance.now()): one field, not two. */
  at = 0;
  /** Set when its own signal ended it, for the statistics. */
  aborted = false;
  /** Its place among the producers waiting for queue room, while it waits. */
  waiter: RoomWaiter | null = null;
  /** Higher starts first; first in, first out among equals. */
  priority = 0;
  /** Its retry policy and rate limit, if it has either (most jobs do not: one field, not four). */
  policy: JobPolicy | null = null;
  readonly task: ResolvedTask;
  readonly args: readonly unknown[];
  readonly transfer: readonly Transferable[];
  readonly sink: Sink;
  readonly token: unknown;
  readonly chunk: boolean;
  readonly signal: AbortSignal | undefined;
  readonly timeout: number | undefined;
  readonly progress: ((value: unknown) => void) | undefined;
  readonly stream: StreamListener | undefined;

  /**
   * Makes a job of `task` called with `args` (for a chunk, one argument list
   * per call); `token` is what its sink needs to tell its outcome apart
   * (resolvers, request, index). The work queue admits it.
   */
  constructor(
    readonly owner: JobOwner,
    /** Its number, given as an engine takes it (again, if it is taken again): numbers follow the order taken. */
    public id: number,
    task: ResolvedTask,
    args: readonly unknown[],
    token: unknown,
    options: JobOptions = PLAIN_JOB,
  ) {
    this.task = task;
    this.args = args;
    this.token = token;
    this.transfer = options.transfer;
    this.sink = options.sink;
    this.chunk = options.chunk;
    this.signal = options.signal;
    this.timeout = options.timeout;
    this.progress = options.progress;
    this.stream = options.stream;
  }

  /** The signal aborted. */
  handleEvent(): void {
    this.owner.abort(this);
  }
}

/**
 * Fails a `switch` over a closed set that missed a case: the compiler
 * reports the call, since nothing can be passed as `never`.
 */
export function unreachable(value: never): never {
  throw new Error(`Unreachable: ${String(value)}`);
}
