/**
 * Main thread, the front's side of the engine seam: the request queue, who
 * may enter it (admission under `maxQueue`), timeouts, the outcome counts,
 * and the one path by which every job reaches its final state, exactly once.
 * It knows nothing of where jobs run: an {@linkcode Engine} takes them.
 *
 * @module
 */

import { Admission } from "./admission.ts";
import { PriorityQueues } from "./priority_queues.ts";
import type { Engine, EngineHost } from "./engine.ts";
import { TaskTimeoutError } from "./errors.ts";
import type { Limiter } from "./rate_limit.ts";
import { RateGate } from "./rate_gate.ts";
import { type Retry, retryable, retryDelay, retryError } from "./retry.ts";
import {
  bound,
  DELAYED,
  DROPPED,
  Job,
  type JobOwner,
  type JobPolicy,
  NEW,
  policyOf,
  QUEUED,
  SENT,
  SETTLED,
  type Sink,
  type StreamListener,
  unreachable,
} from "./job.ts";
import type { ResolvedTask } from "./task.ts";
import { TimingWindow } from "./stats.ts";

/** What the work queue tells its pool, which turns it into events. */
export interface WorkQueueEvents {
  /** The last queued or running job has ended. */
  idle(): void;
  /** A bounded queue that was found full has room again. */
  drain(): void;
}

/** What the work queue is built with, checked. */
export interface WorkQueueOptions {
  /** How many jobs may wait to start; 0: no bound. */
  maxQueue: number;
  /** The timeout of a job that sets none; undefined: none. */
  timeout: number | undefined;
  /** The priority of a job that sets none. */
  priority: number;
  /** The retry policy of a job that sets none; undefined: none. */
  retry: Retry | undefined;
  /** The rate limits jobs start under, here; null: none here (an engine may keep them itself). */
  limiter: Limiter | null;
  events: WorkQueueEvents;
}

/** What {@linkcode WorkQueue}'s failed attempt gives when the job is tried again. */
const TRIED_AGAIN = Symbol("tried again");

/** What a new job is made of, less what the work queue decides. */
export interface JobRequest {
  task: ResolvedTask;
  args: readonly unknown[];
  transfer: readonly Transferable[];
  sink: Sink;
  token: unknown;
  /** Whether `args` holds several calls. */
  chunk?: boolean;
  signal?: AbortSignal | undefined;
  timeout?: number | undefined;
  /** Hears the task's progress reports. */
  progress?: ((value: unknown) => void) | undefined;
  /** For a stream: where its values go. */
  stream?: StreamListener | undefined;
  /** Higher starts first; undefined: the pool's default. */
  priority?: number | undefined;
  /** How a failed attempt is tried again; undefined: the pool's default. */
  retry?: Retry | undefined;
  /** The rate limit it starts under besides the pool's own; undefined: none. */
  rateKey?: string | undefined;
  /** Told once when the task starts, or when it ends if it never did. */
  onStart?: (() => void) | undefined;
}

/**
 * Queues jobs for an engine, and settles each exactly once.
 *
 * Jobs wait in {@linkcode PriorityQueues}, plain `run()` calls (no signal,
 * no timeout, no transfer, no bound on the queue, no retry, no rate limit)
 * among them as they were made. Jobs handed ahead to a worker with a lower
 * priority than one queued since are recalled.
 */
export class WorkQueue implements EngineHost, JobOwner {
  readonly #queues = new PriorityQueues((task, args, resolve, at, priority) => {
    const job = new Job(this, 0, task, args, resolve);
    job.state = QUEUED;
    job.at = at;
    if (priority !== 0) job.priority = priority;
    return job;
  });
  /** The highest priority queued since the engine last pulled; -Infinity: none to recall for. */
  #recall = -Infinity;
  readonly #engine: Engine;
  readonly #options: WorkQueueOptions;
  readonly #admission: Admission;
  #queued = 0; // jobs in the queues that are still QUEUED
  #active = 0; // jobs accepted and not yet settled or dropped
  #nextJob = 0;
  #pullQueued = false;
  #changed: PromiseWithResolvers<void> | null = null;
  /** Jobs waiting to be tried again. */
  readonly #delayed = new Set<Job>();
  /** Where jobs wait for their rate limits, under any; null: none here. */
  readonly #gate: RateGate | null;
  /** Counts of outcomes, and of attempts made again, for stats(). */
  readonly counts = { completed: 0, failed: 0, cancelled: 0, timedOut: 0, retried: 0 };
  /**
   * How long jobs waited to be taken, and ran once taken (for an engine that
   * times runs itself: waited to start, and ran where they ran).
   */
  readonly waitTimes: TimingWindow = new TimingWindow();
  readonly runTimes: TimingWindow = new TimingWindow();

  /** Creates the queue of `engine`, and binds the engine to it. */
  constructor(engine: Engine, options: WorkQueueOptions) {
    this.#engine = engine;
    this.#options = options;
    this.#gate = options.limiter === null
      ? null
      : new RateGate(options.limiter, () => this.pull(), (job, now) => this.#taken(job, now));
    this.#admission = new Admission(options.maxQueue, {
      queued: () => this.queued,
      enqueue: (job) => this.#enqueue(job),
      reportStarts: (on) => engine.reportStarts(on),
      drain: () => options.events.drain(),
    });
    engine.attach(this);
  }

  /** Jobs accepted and not started, including those an engine holds and has not begun. */
  get queued(): number {
    return this.#queued + this.#engine.handedAhead();
  }

  /** Jobs queued and not yet taken by the engine. */
  get backlog(): number {
    return this.#queued;
  }

  /** Whether producers wait for room under `maxQueue`. */
  get waitingForRoom(): boolean {
    return this.#admission.waiting;
  }

  /**
   * Makes a job; it is queued by {@linkcode WorkQueue.admit}.
   *
   * @throws {Error} Whatever the engine refuses the task with.
   */
  job(request: JobRequest): Job {
    this.#engine.admit(request.task, request.args);
    const job = new Job(this, 0, request.task, request.args, request.token, {
      transfer: request.transfer,
      sink: request.sink,
      chunk: request.chunk ?? false,
      signal: request.signal,
      timeout: bound(request.timeout ?? this.#options.timeout),
      progress: request.progress,
      stream: request.stream,
    });
    const priority = request.priority ?? this.#options.priority;
    if (priority !== 0) job.priority = priority;
    const retry = request.retry ?? this.#options.retry;
    // A stream is never tried again: its values would come twice.
    if (retry !== undefined && retry.attempts > 1 && request.stream === undefined) {
      policyOf(job).retry = retry;
    }
    if (request.rateKey !== undefined) policyOf(job).rateKey = request.rateKey;
    if (request.onStart !== undefined) policyOf(job).onStart = request.onStart;
    return job;
  }

  /**
   * Queues a plain `run()` call (see the class) in the queue of its
   * `priority`, if it may go as one: with no bound on the queue and no
   * default timeout. False: make it a {@linkcode Job}.
   *
   * @throws {Error} Whatever the engine refuses the task with.
   */
  plain(
    task: ResolvedTask,
    args: readonly unknown[],
    resolve: (value: unknown) => void,
    priority = this.#options.priority,
  ): boolean {
    const options = this.#options;
    if (
      options.maxQueue !== 0 || options.timeout !== undefined || options.retry !== undefined ||
      options.limiter !== null
    ) {
      return false;
    }
    this.#engine.admit(task, args);
    this.#queues.pushCall(priority, task, args, resolve);
    this.#queued++;
    this.#active++;
    if (this.#queues.mixed && priority > this.#recall) this.#recall = priority;
    this.pull();
    return true;
  }

  /**
   * Queues the job now, or once there is room under `maxQueue`. A job whose
   * signal has already aborted is refused with the signal's reason.
   */
  admit(job: Job, block: boolean, timeout: number | undefined): Promise<void> | void {
    return this.#admission.admit(job, block, timeout);
  }

  /** Resolves when the queue has room under `maxQueue` (at once without a bound). */
  room(): Promise<void> {
    return this.#admission.room();
  }

  /** The job's signal aborted: it ends now with the signal's reason. */
  abort(job: Job): void {
    job.aborted = true;
    this.cancel(job, job.signal!.reason, false);
  }

  /**
   * Ends a job now with `error`, wherever it is. Waiting for room: its
   * admission is refused. Queued: it is taken out. Taken by the engine: the
   * engine is told to stop it.
   */
  cancel(job: Job, error: Error, timedOut: boolean): void {
    switch (job.state) {
      case NEW:
        this.#admission.refuse(job, error);
        return;
      case QUEUED:
        this.settle(job, false, error);
        this.#admission.wake();
        return;
      case SENT:
        this.#engine.cancel(job, timedOut);
        this.settle(job, false, error);
        return;
      case DELAYED:
        this.settle(job, false, error);
        return;
      case SETTLED:
      case DROPPED:
        return;
      default:
        unreachable(job.state);
    }
  }

  /** Rejects every producer still waiting for room. */
  rejectWaiters(error: () => Error): void {
    this.#admission.refuseAll(error);
  }

  /** Takes a queued job out for good, its outcome unwanted; a running one runs on. */
  drop(job: Job): void {
    if (job.state !== QUEUED) return;
    job.state = DROPPED;
    this.counts.cancelled++;
    this.#queued--;
    this.#release(job);
    this.#admission.wake();
    this.#ended();
  }

  /** Resolves at the next change of state: a job settled, a worker came or went. */
  whenChanged(): Promise<void> {
    this.#changed ??= Promise.withResolvers();
    return this.#changed.promise;
  }

  /** Whether the engine can still settle some job of `sink`. */
  canDeliver(sink: Sink): boolean {
    return this.#engine.canDeliver(sink);
  }

  /**
   * Lets the engine take queued jobs. Requests made in one burst (one
   * synchronous run of the caller) go together: the engine pulls once, in a
   * microtask.
   */
  pull(): void {
    if (this.#pullQueued || this.#queued === 0) return;
    this.#pullQueued = true;
    queueMicrotask(this.#pullNow);
  }

  readonly #pullNow = (): void => {
    this.#pullQueued = false;
    if (this.#recall !== -Infinity) {
      const priority = this.#recall;
      this.#recall = -Infinity;
      this.#engine.recall(priority);
    }
    if (this.#queued > 0) this.#engine.pull();
  };

  /**
   * Waits until nothing is queued or running (and no cancelled job still
   * winds down on the engine), then stops the engine. The pool is closed, so
   * no worker can be added: while the engine has none, what is queued can
   * never start, and fails with `stranded()` instead of waiting for ever.
   */
  async shutdown(stranded: () => Error): Promise<void> {
    while (this.#active > 0 || this.#engine.windingDown()) {
      if (this.#engine.size === 0 && this.#queued > 0) this.#failQueued(stranded);
      else await this.whenChanged();
    }
    await this.#engine.shutdown();
    this.changed();
  }

  /** Fails every queued and running job with `error()` and stops the engine now. */
  failEverything(error: () => Error): void {
    this.#failQueued(error);
    for (const job of this.#delayed) this.settle(job, false, error());
    for (const job of this.#engine.terminate()) this.settle(job, false, error());
    this.changed();
  }

  #failQueued(error: () => Error): void {
    for (let job = this.#queues.next(); job !== undefined; job = this.#queues.next()) {
      this.settle(job, false, error());
    }
    this.#gate?.release((job) => this.settle(job, false, error()));
  }

  // The engine's side: EngineHost.

  /** Takes the next queued job that may start, for the engine. */
  take(now: number): Job | undefined {
    if (this.#gate !== null) {
      return this.#queued === 0 ? undefined : this.#gate.take(this.#queues, now);
    }
    while (this.#queued > 0) {
      const job = this.#queues.next()!;
      if (job.state !== QUEUED) continue;
      if (job.sink.mayStart !== undefined && !job.sink.mayStart()) {
        this.#queues.unshift(job);
        return undefined;
      }
      return this.#taken(job, now);
    }
    return undefined;
  }

  /**
   * The job sent under a rate limit started `at` (performance.now()), or by
   * then: the limits count that, and wait for it no more.
   */
  #started(job: Job, at: number): void {
    this.#gate!.started(job, at);
    this.pull();
  }

  /** `job` goes to the engine. */
  #taken(job: Job, now: number): Job {
    if (!this.#engine.timesRuns) {
      this.waitTimes.add(now - job.at);
      job.at = now;
    }
    this.#queued--;
    job.state = SENT;
    job.id = ++this.#nextJob;
    job.sink.running++;
    return job;
  }

  /** A job the engine took and did not begin goes back to the head of the queue. */
  giveBack(job: Job): void {
    // Not begun, but counted as if it had (by now): the count errs on the safe side.
    if (job.policy?.limited) this.#started(job, performance.now());
    job.sink.running--;
    job.place = null;
    job.state = QUEUED;
    this.#queues.unshift(job);
    this.#queued++;
    this.pull();
  }

  /** A job began: its timeout clock starts. */
  began(job: Job, at?: number): void {
    if (job.timeout !== undefined && job.state === SENT && job.timer === undefined) {
      job.timer = setTimeout(() => this.#expire(job), job.timeout);
    }
    const { policy } = job;
    if (policy !== null) {
      if (policy.limited) {
        this.#started(job, at === undefined ? performance.now() : at - performance.timeOrigin);
      }
      if (policy.onStart !== undefined) tellStart(policy);
    }
    this.#admission.wake();
  }

  /** Ends a job with its outcome, once: the only way any job ends. */
  settle(job: Job, ok: boolean, value: unknown, now?: number, ran?: number): void {
    const { policy } = job;
    // Its outcome may come before the report of its start (by the lane): it started by now.
    if (policy !== null && policy.limited) this.#started(job, now ?? performance.now());
    // Whoever waits for its start is told of it by now, if it never started: it will not.
    if (policy !== null && policy.onStart !== undefined) tellStart(policy);
    switch (job.state) {
      case SETTLED:
      case DROPPED:
        return;
      case QUEUED:
        this.#queued--;
        break;
      case SENT: {
        job.sink.running--;
        const end = now ?? performance.now();
        if (!this.#engine.timesRuns) {
          this.runTimes.add(end - job.at);
        } else if (ran !== undefined) {
          // Away from here: it started `ran` ms before its outcome came (to within the trip back).
          this.waitTimes.add(Math.max(0, end - ran - job.at));
          this.runTimes.add(ran);
        }
        break;
      }
      case NEW:
        break;
      case DELAYED:
        this.#delayed.delete(job);
        break;
      default:
        unreachable(job.state);
    }
    if (policy !== null && !ok && policy.retry !== undefined && job.state === SENT) {
      value = this.#failedAttempt(job, value);
      if (value === TRIED_AGAIN) return;
    }
    if (ok) this.counts.completed++;
    else if (job.aborted) this.counts.cancelled++;
    else if (value instanceof TaskTimeoutError) this.counts.timedOut++;
    else this.counts.failed++;
    job.state = SETTLED;
    job.place = null;
    this.#release(job);
    if (ok) job.sink.resolve(job, value);
    else job.sink.reject(job, value as Error);
    this.#ended();
  }

  /** Room may have freed. */
  roomChanged(): void {
    this.#admission.wake();
  }

  /** Wakes whoever waits for a change. */
  changed(): void {
    const changed = this.#changed;
    this.#changed = null;
    changed?.resolve();
  }

  #enqueue(job: Job): void {
    job.state = QUEUED;
    job.at = performance.now();
    this.#queues.push(job);
    if (this.#queues.mixed && job.priority > this.#recall) this.#recall = job.priority;
    this.#queued++;
    this.#active++;
    job.sink.accept?.(job);
    this.changed(); // a follower of results() waits for a put
    this.pull();
  }

  /**
   * An attempt of `job` under a retry policy failed with `error`: it is tried
   * again ({@linkcode TRIED_AGAIN}: it waits its delay, then is queued again
   * behind its equals), or fails with what is returned (after several
   * attempts, a `RetryError` of their errors). Apart from `settle`, whose
   * every call pays for what it holds.
   */
  #failedAttempt(job: Job, error: unknown): unknown {
    if (job.aborted) return error;
    const policy = job.policy!;
    const retry = policy.retry!;
    const failed = (policy.errors?.length ?? 0) + 1;
    if (failed >= retry.attempts || !retryable(retry, error, failed)) {
      return policy.errors === null ? error : retryError(job.task, [...policy.errors, error]);
    }
    (policy.errors ??= []).push(error);
    job.state = DELAYED;
    job.place = null;
    if (job.timer !== undefined) clearTimeout(job.timer);
    this.#delayed.add(job);
    this.counts.retried++;
    job.timer = setTimeout(() => {
      job.timer = undefined;
      this.#delayed.delete(job);
      job.state = QUEUED;
      job.at = performance.now();
      this.#queues.push(job);
      if (this.#queues.mixed && job.priority > this.#recall) this.#recall = job.priority;
      this.#queued++;
      this.pull();
      this.changed(); // a closing pool with no worker left fails it now
    }, retryDelay(retry, failed));
    this.changed();
    return TRIED_AGAIN;
  }

  /** A running job outlived its timeout. */
  #expire(job: Job): void {
    job.timer = undefined;
    const error = new TaskTimeoutError(
      `Task "${job.task.name}" of ${job.task.href} timed out after ${job.timeout} ms`,
    );
    this.cancel(job, error, true);
  }

  /** What every job gives up when it reaches its final state. */
  #release(job: Job): void {
    job.signal?.removeEventListener("abort", job);
    if (job.timer !== undefined) clearTimeout(job.timer);
    this.#active--;
  }

  /** After a job's final state: wake whoever waits for a change, and say when all is done. */
  #ended(): void {
    this.changed();
    if (this.#active === 0) this.#options.events.idle();
  }
}

/** Tells whoever waits for a job's start, once. */
function tellStart(policy: JobPolicy): void {
  const onStart = policy.onStart!;
  policy.onStart = undefined;
  try {
    onStart();
  } catch (error) {
    reportError(error);
  }
}
