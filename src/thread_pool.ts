/**
 * The pool: a request queue, workers that take from it, and a result channel
 * drained by `poll()`/`wait()` callbacks or `results()`, with `run()` and
 * `map()` for promise-style use. This class checks input and speaks the
 * ancestor's API; the work is done by the scheduler.
 *
 * @module
 */

import { assertClonable } from "./pool/clonable.ts";
import { NoResultsPending, NoWorkersAvailable, PoolClosedError } from "./pool/errors.ts";
import { NO_TRANSFER, promiseSink } from "./core/job.ts";
import type {
  CloseOptions,
  MapOptions,
  PollOptions,
  PutOptions,
  RunOptions,
  ThreadPoolOptions,
} from "./pool/options.ts";
import { poolConfig } from "./threads/pool_config.ts";
import { mapTasks } from "./pool/pool_map.ts";
import { ResultChannel, type Settled } from "./pool/result_channel.ts";
import { Scheduler, type WorkerExitReason } from "./threads/scheduler.ts";
import type { ThreadPoolStats } from "./pool/stats.ts";
import {
  type MapInput,
  resolveTask,
  type TaskArgs,
  type TaskResult,
  type TaskSpec,
} from "./pool/task.ts";
import { takenRequests, WorkRequest } from "./pool/work_request.ts";
import type { WorkerSlot } from "./threads/worker_slot.ts";
import {
  argumentList,
  cancelLimits,
  flag,
  milliseconds,
  nonNegativeInteger,
  optionsArgument,
  transferList,
} from "./pool/validate.ts";

/**
 * A pool of Web Workers running tasks named by module URL and export.
 *
 * The pool is an `EventTarget`. Events: `idle` (the last queued or running
 * request has ended), `drain` (a bounded queue that a producer found full
 * has room again), `workerexit` (a `CustomEvent` whose `detail` is a
 * {@linkcode WorkerExitDetail}), and `error` (an `ErrorEvent` for a problem
 * that belongs to no request, such as a worker dying while it ran nothing).
 *
 * @example Run a task
 * ```ts
 * import { ThreadPool } from "@scope/threadpool";
 * import { equal } from "node:assert/strict";
 *
 * // Usually: { module: new URL("./tasks.ts", import.meta.url), name: "add" }
 * const source = "export function add(a, b) { return a + b; }";
 * const add = { module: `data:text/javascript,${encodeURIComponent(source)}`, name: "add" };
 *
 * await using pool = new ThreadPool(2);
 * equal(await pool.run(add, [1, 2]), 3);
 * ```
 *
 * @example The ancestor's style: requests, callbacks, wait()
 * ```ts
 * import { makeRequests, ThreadPool } from "@scope/threadpool";
 * import { deepEqual } from "node:assert/strict";
 *
 * const source = "export default function square(n) { return n * n; }";
 * const square = { module: `data:text/javascript,${encodeURIComponent(source)}` };
 *
 * await using pool = new ThreadPool(2);
 * const results: number[] = [];
 * for (const request of makeRequests<number>(square, [1, 2, 3], (_, r) => results.push(r))) {
 *   await pool.putRequest(request);
 * }
 * await pool.wait();
 * deepEqual(results.sort(), [1, 4, 9]);
 * ```
 */
export class ThreadPool extends EventTarget implements AsyncDisposable {
  readonly #scheduler: Scheduler;
  readonly #channel: ResultChannel;
  #closing: Promise<void> | null = null;

  /**
   * Creates a pool and starts its workers.
   *
   * @param numWorkers How many workers to start; by default, one per CPU core
   * (`navigator.hardwareConcurrency`).
   * @param options Queue bounds, timeouts, per-worker concurrency, permissions,
   * an initializer: each {@linkcode ThreadPoolOptions} field says its default.
   * @throws {TypeError} When `numWorkers` or an option has the wrong type, or
   * `permissions` is malformed; `UnstableFlagError` (a `TypeError`) when
   * `permissions` needs Deno's `--unstable-worker-options` and the pool cannot see it on.
   * @throws {RangeError} When `numWorkers` or an option is out of range.
   * @throws {Deno.errors.NotCapable} When `permissions` grants what this process
   * lacks, or this process may not read the pool's worker scripts.
   */
  constructor(numWorkers: number = navigator.hardwareConcurrency, options: ThreadPoolOptions = {}) {
    super();
    const config = poolConfig(numWorkers, options);
    this.#scheduler = new Scheduler({
      ...config.scheduler,
      events: {
        idle: () => this.dispatchEvent(new Event("idle")),
        drain: () => this.dispatchEvent(new Event("drain")),
        workerExit: (worker, reason, error) =>
          this.dispatchEvent(
            new CustomEvent<WorkerExitDetail>("workerexit", {
              detail: error === undefined ? { worker, reason } : { worker, reason, error },
            }),
          ),
        error: (error) =>
          this.dispatchEvent(new ErrorEvent("error", { error, message: error.message })),
      },
    });
    this.#channel = new ResultChannel(config.maxResults);
    this.createWorkers(config.numWorkers);
  }

  /** Live workers (a replacement still starting counts; dismissed ones do not). */
  get size(): number {
    return this.#scheduler.size;
  }

  /** Put requests not yet handed to a callback or to `results()`. */
  get pending(): number {
    return this.#channel.pending;
  }

  /** Requests accepted and not yet started, including any handed ahead to a worker. */
  get queued(): number {
    return this.#scheduler.queued;
  }

  /** Dismissed workers not yet joined by {@linkcode ThreadPool.joinAllDismissedWorkers}. */
  get dismissed(): number {
    return this.#scheduler.dismissed.length;
  }

  /**
   * Worker threads given up on: a cancelled or timed-out task on them did not
   * stop within `cancelGrace` (each was replaced at once, and terminated once
   * the tasks beside that one had ended), or a task still ran on them at
   * `close({ force: true })`. A thread stuck in synchronous code keeps
   * running after `terminate()` in Deno until its loop ends.
   */
  get abandoned(): number {
    return this.#scheduler.counts.abandoned;
  }

  /**
   * Worker threads replaced fresh: after `maxTasksPerWorker` tasks, or to be
   * granted a task module (with `permissions`).
   */
  get recycled(): number {
    return this.#scheduler.counts.recycled;
  }

  /** Worker threads of this pool that are running now; 0 after `close()`. */
  get liveThreads(): number {
    return this.#scheduler.liveThreads;
  }

  /**
   * Adds workers; their threads start at once.
   *
   * @param count How many.
   * @throws {RangeError} When `count` is not a non-negative integer.
   * @throws {PoolClosedError} When the pool is closed.
   */
  createWorkers(count: number): void {
    this.#assertOpen("create workers");
    this.#scheduler.addWorkers(nonNegativeInteger("create workers", "count", count));
  }

  /**
   * Removes up to `count` workers, newest first. Each finishes the task it is
   * running, then exits; tasks it had been handed and not begun go back to
   * the queue. From the moment this returns, they begin nothing new.
   *
   * @param count How many workers to remove.
   * @param options `join: true` waits until they have exited.
   * @throws {RangeError} When `count` is not a non-negative integer.
   * @throws {PoolClosedError} When the pool is closed.
   */
  async dismissWorkers(count: number, options: { join?: boolean } = {}): Promise<void> {
    const action = "dismiss workers";
    this.#assertOpen(action);
    const join = flag(action, "join", optionsArgument(action, "options", options).join);
    const victims = this.#scheduler.dismiss(nonNegativeInteger(action, "count", count));
    if (join) await this.#join(victims);
  }

  /** Waits until every dismissed worker has exited, then forgets them. */
  async joinAllDismissedWorkers(): Promise<void> {
    await this.#join([...this.#scheduler.dismissed]);
  }

  /**
   * Puts a request on the queue. Its outcome goes to the result channel, to be
   * handed to its callback by `poll()`/`wait()` or yielded by `results()`.
   *
   * @param request The request; each can be put once.
   * @param options Whether and how long to wait while the queue is full.
   * @returns Resolves once the request is queued.
   * @throws {TypeError} When the request was put before, already failed, or
   * has a bad task or arguments.
   * @throws {QueueFullError} When the queue stays full.
   * @throws {PoolClosedError} When the pool is closed.
   */
  async putRequest<R>(request: WorkRequest<R>, options: PutOptions = {}): Promise<void> {
    this.#assertOpen("put a request");
    if (!(request instanceof WorkRequest)) {
      throw new TypeError(
        `Cannot put ${Deno.inspect(request, { depth: 0 })}: it is not a WorkRequest`,
      );
    }
    if (request.exception) {
      throw new TypeError(`Cannot put request #${request.requestID}: it already failed`);
    }
    if (takenRequests.has(request)) {
      throw new TypeError(`Cannot put request #${request.requestID}: it was already put`);
    }
    const action = "put a request";
    const { block = true, timeout } = optionsArgument(action, "options", options);
    flag(action, "block", block);
    if (timeout !== undefined) milliseconds(action, "timeout", timeout);
    const task = resolveTask(request.task);
    assertClonable(request.args);
    const limits = cancelLimits("put a request", request);
    const job = this.#scheduler.job(
      task,
      request.args,
      request.transfer,
      this.#channel,
      request,
      false,
      limits,
    );
    takenRequests.add(request);
    try {
      await this.#scheduler.admit(job, block, timeout);
    } catch (error) {
      takenRequests.delete(request);
      throw error;
    }
  }

  /**
   * Hands the results that have arrived to their callbacks: `callback` on
   * success, `excCallback` on failure. A callback that throws makes `poll()`
   * reject; its request is no longer pending, and the results after it wait
   * for the next call.
   *
   * @param options `block: true` first waits for at least one result.
   * @throws {NoResultsPending} When no request is pending.
   * @throws {NoWorkersAvailable} When blocking and no worker can run the
   * pending requests.
   */
  async poll(options: PollOptions = {}): Promise<void> {
    const block = flag("poll", "block", optionsArgument("poll", "options", options).block);
    if (this.#channel.pending === 0) throw new NoResultsPending();
    if (block) await this.#awaitResult();
    for (let settled = this.#take(); settled !== undefined; settled = this.#take()) {
      const { request } = settled;
      const returned = settled.ok
        ? request.callback?.(request, settled.value)
        : request.excCallback?.(request, settled.error);
      if (isThenable(returned)) await returned;
    }
  }

  /**
   * Polls, blocking, until no request is pending.
   *
   * @throws {NoWorkersAvailable} When requests are pending and no worker is left.
   */
  async wait(): Promise<void> {
    while (this.#channel.pending > 0) await this.poll({ block: true });
  }

  /**
   * The result channel as an async iterator: yields each put request's
   * outcome as it arrives (its callbacks are not called), and ends when no
   * request is pending.
   *
   * @throws {NoWorkersAvailable} When requests are pending and no worker is left.
   */
  async *results(): AsyncIterableIterator<Settled> {
    while (this.#channel.pending > 0) {
      await this.#awaitResult();
      yield this.#take()!;
    }
  }

  /**
   * Runs one task and resolves with its result.
   *
   * @param task The task to call.
   * @param args Its arguments.
   * @param options A `signal` and a `timeout` that end it early, and what in
   * `args` to `transfer` rather than copy (see {@linkcode RunOptions}).
   * @returns The task's result.
   * @throws {TaskError} When the task throws or rejects.
   * @throws {TaskTimeoutError} When it runs longer than its `timeout`.
   * @throws {WorkerLostError} When its worker dies while running it.
   * @throws {TypeError} When the task, an argument or an option is malformed,
   * or an argument cannot be sent; `signal.reason` when its signal aborts.
   * @throws {RangeError} When `timeout` is negative or NaN.
   * @throws {PoolClosedError} When the pool is closed.
   */
  run<T extends TaskSpec>(
    task: T,
    args?: TaskArgs<T>,
    options: RunOptions = {},
  ): Promise<TaskResult<T>> {
    // Not an async function: a suspended async frame per queued call would
    // triple what a queued request costs.
    let job;
    const resolvers = Promise.withResolvers<TaskResult<T>>();
    try {
      const action = "run a task";
      this.#assertOpen(action);
      const list = args === undefined ? [] : argumentList(action, "args", args);
      const resolved = resolveTask(task);
      assertClonable(list);
      const checked = optionsArgument(action, "options", options);
      const limits = cancelLimits(action, checked);
      const transfer = transferList(action, checked.transfer, NO_TRANSFER);
      job = this.#scheduler.job(resolved, list, transfer, promiseSink, resolvers, false, limits);
    } catch (error) {
      return Promise.reject(error);
    }
    const admitted = this.#scheduler.admit(job, true, undefined);
    return admitted === undefined ? resolvers.promise : admitted.then(() => resolvers.promise);
  }

  /**
   * Runs a task once per input and yields the results: an array input is
   * spread as the argument list, any other input is the single argument.
   * Inputs are read as room frees, so a long or endless input is fine. The
   * first failure is thrown by the iterator, which then stops; leaving the
   * loop early drops the inputs not yet started.
   *
   * @param task The task to call.
   * @param inputs One item per call.
   * @param options Order, chunking, and a `signal` and `timeout` for every
   * call (see {@linkcode MapOptions}).
   * @returns The results.
   */
  map<T extends TaskSpec>(
    task: T,
    inputs: Iterable<MapInput<T>> | AsyncIterable<MapInput<T>>,
    options: MapOptions = {},
  ): AsyncIterableIterator<TaskResult<T>> {
    return this.#map(task, inputs, options) as AsyncIterableIterator<TaskResult<T>>;
  }

  /**
   * A snapshot of the pool: counts of requests by outcome since the pool was
   * created, workers, percentiles of wait and run times over the last 1,024
   * requests, and each worker's utilisation. Always on: it costs a clock
   * read per request.
   *
   * @returns The snapshot.
   */
  stats(): ThreadPoolStats {
    const scheduler = this.#scheduler;
    const { completed, failed, cancelled, timedOut, lost, abandoned, recycled } = scheduler.counts;
    return {
      queued: scheduler.queued,
      running: scheduler.running,
      completed,
      failed,
      cancelled,
      timedOut,
      workers: {
        live: scheduler.size,
        dismissed: scheduler.dismissed.length,
        lost,
        abandoned,
        recycled,
      },
      waitTime: scheduler.waitTimes.percentiles(),
      runTime: scheduler.runTimes.percentiles(),
      utilisation: scheduler.utilisation(),
    };
  }

  /**
   * Resolves when the queue has room under `maxQueue` (at once when it has no
   * bound): a producer that awaits it before each request never holds more
   * than `maxQueue` requests in the pool, and never gets `QueueFullError`.
   */
  waitForRoom(): Promise<void> {
    return this.#scheduler.room();
  }

  /**
   * Closes the pool: no new requests. Resolves when queued and running work
   * has finished and every thread has stopped. With `force: true`, every
   * pending request fails at once with {@linkcode PoolClosedError}. Results
   * already in the channel can still be polled.
   *
   * @param options `force: true` to stop without finishing.
   */
  close(options: CloseOptions = {}): Promise<void> {
    let force;
    try {
      force = flag(
        "close the pool",
        "force",
        optionsArgument("close the pool", "options", options).force,
      );
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#closing === null) {
      this.#scheduler.rejectWaiters(() =>
        new PoolClosedError("Cannot put a request: the pool was closed while it waited for room")
      );
      this.#closing = this.#scheduler.shutdown();
    }
    if (force) {
      this.#scheduler.failEverything(() =>
        new PoolClosedError("The pool was closed with force: true before this request finished")
      );
    }
    return this.#closing;
  }

  /** Closes the pool, waiting for queued and running work. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async *#map(
    task: TaskSpec,
    inputs: Iterable<unknown> | AsyncIterable<unknown>,
    options: MapOptions,
  ): AsyncGenerator<unknown> {
    // Checked here, so that a bad call rejects its first next() and nothing is read.
    this.#assertOpen("map a task");
    yield* mapTasks(this.#scheduler, resolveTask(task), inputs, options);
  }

  async #join(slots: readonly WorkerSlot[]): Promise<void> {
    await Promise.all(slots.map((slot) => slot.exited.promise));
    this.#scheduler.forget(slots);
  }

  /** Waits until a result is in the channel, or nothing can bring one. */
  async #awaitResult(): Promise<void> {
    while (this.#channel.length === 0) {
      if (this.#channel.pending === 0) throw new NoResultsPending();
      if (!this.#scheduler.canDeliver(this.#channel)) {
        throw new NoWorkersAvailable(
          `No workers available: ${this.#channel.pending} requests are pending and the pool has no worker to run them; call createWorkers()`,
        );
      }
      await this.#scheduler.changed();
    }
  }

  #take(): Settled | undefined {
    const settled = this.#channel.take();
    // Taking a result may make room under maxResults.
    if (settled !== undefined) this.#scheduler.dispatch();
    return settled;
  }

  #assertOpen(action: string): void {
    if (this.#closing !== null) throw new PoolClosedError(`Cannot ${action}: the pool is closed`);
  }
}

/**
 * The `detail` of a `workerexit` event.
 *
 * @example Listening for lost workers
 * ```ts
 * import { ThreadPool, type WorkerExitDetail } from "@scope/threadpool";
 * import { equal } from "node:assert/strict";
 *
 * await using pool = new ThreadPool(1);
 * const exits: WorkerExitDetail[] = [];
 * pool.addEventListener("workerexit", (event) => {
 *   exits.push((event as CustomEvent<WorkerExitDetail>).detail);
 * });
 * pool.dismissWorkers(1);
 * await pool.joinAllDismissedWorkers();
 * equal(exits[0]?.reason, "dismissed");
 * ```
 */
export interface WorkerExitDetail {
  /** The worker's number in the pool. */
  worker: number;
  /**
   * Why its thread stopped: `idle` (after `idleTimeout`; it starts again on
   * demand), `dismissed`, `recycled` (after `maxTasksPerWorker` tasks, or to
   * grant a new task module), `lost` (it died), `abandoned` (a cancelled task did not stop within
   * `cancelGrace`), or `closed`.
   */
  reason: WorkerExitReason;
  /** For `lost` and `abandoned`: what happened. */
  error?: Error;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === "object" && value !== null &&
    typeof (value as { then?: unknown }).then === "function";
}
