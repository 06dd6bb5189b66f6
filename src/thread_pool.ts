/**
 * Main thread: `ThreadPool`, the public class — the front (the ancestor's
 * API, promises, `map`, the result channel) over the Web Worker engine. It
 * checks its own input, owns one of each, and hands every call on.
 *
 * @module
 */

import type { ThreadPoolStats } from "./core/stats.ts";
import type { MapInput, TaskArgs, TaskResult, TaskSpec, TaskYield } from "./core/task.ts";
import { PoolFront } from "./pool/front.ts";
import type {
  CloseOptions,
  MapOptions,
  MapSettled,
  PollOptions,
  PutOptions,
  ResultsOptions,
  RunOptions,
  StreamOptions,
  ThreadPoolOptions,
} from "./pool/options.ts";
import type { Settled } from "./pool/result_channel.ts";
import { flag, nonNegativeInteger, optionsArgument } from "./pool/validate.ts";
import type { WorkRequest } from "./pool/work_request.ts";
import { poolConfig } from "./threads/pool_config.ts";
import { ThreadEngine } from "./threads/thread_engine.ts";
import type { WorkerExitReason, WorkerSlot } from "./threads/worker_slot.ts";

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
  readonly #engine: ThreadEngine;
  readonly #front: PoolFront;

  /**
   * Creates a pool of workers. The first one's thread starts at once, each
   * other's when there is work for it (starting a thread holds this one for
   * a few milliseconds); with an `initializer`, all start at once.
   *
   * @param numWorkers How many workers; by default, one per CPU core
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
    this.#engine = new ThreadEngine(config.engine, {
      workerExit: (worker, reason, error) =>
        this.dispatchEvent(
          new CustomEvent<WorkerExitDetail>("workerexit", {
            detail: error === undefined ? { worker, reason } : { worker, reason, error },
          }),
        ),
      error: (error) =>
        this.dispatchEvent(new ErrorEvent("error", { error, message: error.message })),
    });
    this.#front = new PoolFront(this.#engine, {
      ...config.front,
      noWorkersHint: "call createWorkers()",
      streamHighWaterMark: 1_024,
      events: {
        idle: () => this.dispatchEvent(new Event("idle")),
        drain: () => this.dispatchEvent(new Event("drain")),
      },
    });
    this.#engine.addWorkers(config.numWorkers, true);
  }

  /** Live workers (a replacement still starting counts; dismissed ones do not). */
  get size(): number {
    return this.#engine.size;
  }

  /** Tasks one worker runs at once (the `concurrency` option). */
  get concurrency(): number {
    return this.#engine.concurrency;
  }

  /** Whether `close()` has been called: the pool then takes no new request. */
  get closed(): boolean {
    return this.#front.closed;
  }

  /** Put requests not yet handed to a callback or to `results()`. */
  get pending(): number {
    return this.#front.pending;
  }

  /** Requests accepted and not yet started, including any handed ahead to a worker. */
  get queued(): number {
    return this.#front.queued;
  }

  /** Dismissed workers not yet joined by {@linkcode ThreadPool.joinAllDismissedWorkers}. */
  get dismissed(): number {
    return this.#engine.dismissed.length;
  }

  /**
   * Worker threads given up on: a cancelled or timed-out task on them did not
   * stop within `cancelGrace` (each was replaced at once, and terminated once
   * the tasks beside that one had ended), or a task still ran on them at
   * `close({ force: true })`. A thread stuck in synchronous code keeps
   * running after `terminate()` in Deno until its loop ends.
   */
  get abandoned(): number {
    return this.#engine.abandoned;
  }

  /**
   * Worker threads replaced fresh: after `maxTasksPerWorker` tasks, or to be
   * granted a task module (with `permissions`).
   */
  get recycled(): number {
    return this.#engine.recycled;
  }

  /** Worker threads of this pool that are running now; 0 after `close()`. */
  get liveThreads(): number {
    return this.#engine.liveThreads;
  }

  /**
   * Adds workers; their threads start at once.
   *
   * @param count How many.
   * @throws {RangeError} When `count` is not a non-negative integer.
   * @throws {PoolClosedError} When the pool is closed.
   */
  createWorkers(count: number): void {
    this.#front.assertOpen("create workers");
    this.#engine.addWorkers(nonNegativeInteger("create workers", "count", count));
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
    this.#front.assertOpen(action);
    const join = flag(action, "join", optionsArgument(action, "options", options).join);
    const victims = this.#engine.dismiss(nonNegativeInteger(action, "count", count));
    if (join) await this.#join(victims);
  }

  /** Waits until every dismissed worker has exited, then forgets them. */
  async joinAllDismissedWorkers(): Promise<void> {
    await this.#join([...this.#engine.dismissed]);
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
  putRequest<R>(request: WorkRequest<R>, options: PutOptions = {}): Promise<void> {
    return this.#front.putRequest(request, options);
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
  poll(options: PollOptions = {}): Promise<void> {
    return this.#front.poll(options);
  }

  /**
   * Polls, blocking, until no request is pending.
   *
   * @throws {NoWorkersAvailable} When requests are pending and no worker is left.
   */
  wait(): Promise<void> {
    return this.#front.wait();
  }

  /**
   * The result channel as an async iterator: yields each put request's
   * outcome as it arrives (its callbacks are not called), and ends when no
   * request is pending; with `follow: true`, it waits for further requests
   * and ends only once the pool is closed and nothing is pending.
   *
   * @param options `follow` (see {@linkcode ResultsOptions}).
   * @throws {NoWorkersAvailable} When requests are pending and no worker is
   * left (a follower waits instead).
   * @throws {TypeError} When `follow` is not a boolean.
   */
  results(options: ResultsOptions = {}): AsyncIterableIterator<Settled> {
    return this.#front.results(options);
  }

  /**
   * Runs one task and resolves with its result.
   *
   * @param task The task to call.
   * @param args Its arguments. The list is copied at the call (the array may
   * be reused at once); the values in it are copied when the request is sent
   * to a worker, which for a queued request is later: change an object passed
   * here only once its request has started, or pass a copy.
   * @param options A `signal` and a `timeout` that end it early, what in
   * `args` to `transfer` rather than copy, and `onProgress`, which hears the
   * task's progress reports (see {@linkcode RunOptions}).
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
    return this.#front.run(task, args, options);
  }

  /**
   * Runs a task that makes values — a generator or async generator function,
   * or one that returns (or resolves to) an iterable, an async iterable or a
   * `ReadableStream` — and gives them as a `ReadableStream`, in order, closed
   * when the task's iteration ends. The task is pulled only as the stream is
   * read: at most `highWaterMark` values ahead of the reader, those on their
   * way included. Cancelling the stream (`reader.cancel()`, leaving a
   * `for await` loop), the `signal` or the `timeout` (over the whole stream,
   * from its start) stop the iteration on the worker (a generator's
   * `finally` runs) and free the worker, as for a cancelled `run()`.
   *
   * @param task The task to call.
   * @param args Its arguments.
   * @param options `highWaterMark`, and as for `run()` (see {@linkcode StreamOptions}).
   * @returns The task's values. It errors with a `TaskError` when the task
   * throws (after the values made before), `WorkerLostError` when its worker
   * dies, `TaskTimeoutError`, the signal's reason, or `PoolClosedError` at
   * `close({ force: true })`. A stream that has begun is never run again.
   * @throws {TypeError} When the task, an argument or an option is malformed.
   * @throws {RangeError} When `timeout` or `highWaterMark` is out of range.
   * @throws {PoolClosedError} When the pool is closed.
   */
  stream<T extends TaskSpec>(
    task: T,
    args?: TaskArgs<T>,
    options: StreamOptions = {},
  ): ReadableStream<TaskYield<T>> {
    return this.#front.stream(task, args, options) as ReadableStream<TaskYield<T>>;
  }

  /**
   * Runs a task once per input and yields each input's outcome, failures
   * included, and goes on: `{ index, ok: true, value }` or
   * `{ index, ok: false, error }`, `index` the input's place.
   *
   * @param task The task to call.
   * @param inputs One item per call.
   * @param options `settled: true`, and as for the other form.
   * @returns Each input's outcome.
   */
  map<T extends TaskSpec>(
    task: T,
    inputs: Iterable<MapInput<T>> | AsyncIterable<MapInput<T>>,
    options: MapOptions & { settled: true },
  ): AsyncIterableIterator<MapSettled<TaskResult<T>>>;
  /**
   * Runs a task once per input and yields the results: an array input is
   * spread as the argument list, any other input is the single argument.
   * Inputs are read as room frees, so a long or endless input is fine. The
   * first failure is thrown by the iterator, which then stops (its error
   * names the input: an `index` field, and `(map() input N)` in its
   * message); `settled: true` yields each outcome instead and goes on.
   * Leaving the loop early drops the inputs not yet started.
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
    options?: MapOptions,
  ): AsyncIterableIterator<TaskResult<T>>;
  map<T extends TaskSpec>(
    task: T,
    inputs: Iterable<MapInput<T>> | AsyncIterable<MapInput<T>>,
    options: MapOptions = {},
  ): AsyncIterableIterator<unknown> {
    return this.#front.map(task, inputs, options);
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
    return this.#front.stats();
  }

  /**
   * Resolves when the queue has room under `maxQueue` (at once when it has no
   * bound): a producer that awaits it before each request never holds more
   * than `maxQueue` requests in the pool, and never gets `QueueFullError`.
   */
  waitForRoom(): Promise<void> {
    return this.#front.waitForRoom();
  }

  /**
   * Closes the pool: no new requests. Resolves when queued and running work
   * has finished and every thread has stopped. With `force: true`, every
   * pending request fails at once with {@linkcode PoolClosedError}. Without
   * it, requests still queued when no worker is left (all dismissed) fail
   * with it too: none could ever run. Results already in the channel can
   * still be polled.
   *
   * @param options `force: true` to stop without finishing.
   */
  close(options: CloseOptions = {}): Promise<void> {
    return this.#front.close(options);
  }

  /** Closes the pool, waiting for queued and running work. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #join(slots: readonly WorkerSlot[]): Promise<void> {
    await Promise.all(slots.map((slot) => slot.exited.promise));
    this.#engine.forget(slots);
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
