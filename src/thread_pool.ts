/**
 * The pool: a request queue, workers that take from it, and a result channel
 * drained by `poll()`/`wait()` callbacks or `results()`, with `run()` and
 * `map()` for promise-style use.
 *
 * @module
 */

import { assertClonable } from "./clonable.ts";
import { Deque } from "./deque.ts";
import { fromWireError, type WireError } from "./error_wire.ts";
import {
  NoResultsPending,
  NoWorkersAvailable,
  PoolClosedError,
  QueueFullError,
  TaskError,
  WorkerLostError,
} from "./errors.ts";
import { DROPPED, type Job, NEW, PromiseSink, QUEUED, SENT, SETTLED, type Sink } from "./job.ts";
import { MapSink } from "./map_sink.ts";
import type { ChunkOutcome, FromWorker } from "./protocol.ts";
import {
  type ResolvedTask,
  resolveTask,
  type TaskArgs,
  type TaskResult,
  type TaskSpec,
} from "./task.ts";
import { takenRequests, WorkRequest } from "./work_request.ts";
import { type SlotHost, WorkerSlot } from "./worker_slot.ts";

/** Options for {@linkcode ThreadPool}. */
export interface ThreadPoolOptions {
  /**
   * How many requests may wait to start (queued, or handed ahead to a worker
   * and not begun); `0` means no bound. threadpool.py's `q_size`.
   *
   * @default {0}
   */
  maxQueue?: number;
  /**
   * How many results of put requests may wait for `poll()` (or be running
   * towards it); no further put request starts while it is reached. `0`
   * means no bound. threadpool.py's `resq_size`.
   *
   * @default {0}
   */
  maxResults?: number;
  /**
   * Milliseconds a worker's thread may sit idle before it is stopped (it
   * starts again when work arrives). This is what lets a script that never
   * calls `close()` exit; `Infinity` keeps threads until `close()`.
   *
   * @default {250}
   */
  idleTimeout?: number;
  /**
   * Tasks one worker runs at once; above 1 only helps async tasks.
   *
   * @default {1}
   */
  concurrency?: number;
  /**
   * Tasks handed ahead to a busy worker so that it never waits for the main
   * thread between tasks. Handed-ahead tasks count as queued, and go back to
   * the queue if their worker is dismissed or dies before starting them.
   *
   * @default {0}
   */
  prefetch?: number;
  /**
   * A name for the workers' threads, as seen in stack traces and inspectors.
   *
   * @default {"threadpool"}
   */
  name?: string;
}

/** Options for {@linkcode ThreadPool.putRequest}. */
export interface PutOptions {
  /**
   * Wait while the queue is full; `false` rejects at once with
   * {@linkcode QueueFullError}.
   *
   * @default {true}
   */
  block?: boolean;
  /**
   * Milliseconds to wait for room before rejecting with
   * {@linkcode QueueFullError}.
   *
   * @default {undefined: no limit}
   */
  timeout?: number;
}

/** Options for {@linkcode ThreadPool.poll}. */
export interface PollOptions {
  /**
   * Wait until at least one result is there, rather than return at once.
   *
   * @default {false}
   */
  block?: boolean;
}

/** Options for {@linkcode ThreadPool.run}. */
export interface RunOptions {
  /**
   * Objects in the arguments to transfer, not copy, to the worker.
   *
   * @default {[]}
   */
  transfer?: Transferable[];
}

/** Options for {@linkcode ThreadPool.map}. */
export interface MapOptions {
  /**
   * Yield results in input order; `false` yields them as they finish.
   *
   * @default {true}
   */
  ordered?: boolean;
  /**
   * Inputs sent to a worker in one message and run there one after another.
   *
   * @default {1}
   */
  chunkSize?: number;
}

/** Options for {@linkcode ThreadPool.close}. */
export interface CloseOptions {
  /**
   * Fail every pending request with {@linkcode PoolClosedError} and stop the
   * workers now, rather than let queued and running work finish.
   *
   * @default {false}
   */
  force?: boolean;
}

/** A put request's outcome, as `results()` yields it. */
export type Settled<R = unknown> =
  | { request: WorkRequest<R>; ok: true; value: R }
  | { request: WorkRequest<R>; ok: false; error: Error };

interface RoomWaiter {
  job: Job;
  resolve(): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout> | undefined;
  done: boolean;
}

/**
 * A pool of Web Workers running tasks named by module URL and export.
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
export class ThreadPool implements AsyncDisposable {
  readonly #slots: WorkerSlot[] = [];
  readonly #dismissed: WorkerSlot[] = [];
  readonly #queue = new Deque<Job>();
  readonly #channel = new Deque<Settled>();
  readonly #roomWaiters = new Deque<RoomWaiter>();
  readonly #host: SlotHost;
  readonly #channelSink: Sink;
  readonly #maxQueue: number;
  readonly #maxResults: number;
  readonly #idleTimeout: number;
  readonly #concurrency: number;
  readonly #capacity: number;
  readonly #name: string;
  #queued = 0; // jobs in #queue that are still QUEUED
  #active = 0; // jobs accepted and not yet settled or dropped
  #pending = 0; // put requests not yet handed to a consumer
  #channelRunning = 0; // put requests sent to a worker and not settled
  #nextJob = 0;
  #nextSlot = 0;
  #changed: PromiseWithResolvers<void> | null = null;
  #closing: Promise<void> | null = null;

  /**
   * Creates a pool and starts its workers.
   *
   * @param numWorkers How many workers to start.
   * @param options Queue bounds, idle timeout, per-worker concurrency.
   * @throws {RangeError} When `numWorkers` or an option is out of range.
   */
  constructor(numWorkers: number = navigator.hardwareConcurrency, options: ThreadPoolOptions = {}) {
    this.#maxQueue = count("maxQueue", options.maxQueue ?? 0);
    this.#maxResults = count("maxResults", options.maxResults ?? 0);
    this.#idleTimeout = duration("idleTimeout", options.idleTimeout ?? 250);
    this.#concurrency = count("concurrency", options.concurrency ?? 1);
    if (this.#concurrency === 0) {
      throw new RangeError(
        "Cannot create the pool as 'concurrency' must be at least 1: current value is 0",
      );
    }
    this.#capacity = this.#concurrency + count("prefetch", options.prefetch ?? 0);
    this.#name = options.name ?? "threadpool";
    this.#host = {
      onMessage: (slot, message) => this.#onMessage(slot, message),
      onLost: (slot, how, error) => this.#onLost(slot, how, error),
    };
    this.#channelSink = {
      resolve: (job, value) => {
        this.#channelRunning--;
        this.#channel.push({ request: job.token as WorkRequest, ok: true, value });
      },
      reject: (job, error) => {
        if (job.state === SENT) this.#channelRunning--;
        const request = job.token as WorkRequest;
        request.exception = true;
        this.#channel.push({ request, ok: false, error });
      },
    };
    this.createWorkers(count("numWorkers", numWorkers));
  }

  /** Live workers (a replacement still starting counts; dismissed ones do not). */
  get size(): number {
    return this.#slots.length;
  }

  /** Put requests not yet handed to a callback or to `results()`. */
  get pending(): number {
    return this.#pending;
  }

  /** Requests accepted and not yet started, including any handed ahead to a worker. */
  get queued(): number {
    let handedAhead = 0;
    for (const slot of this.#slots) handedAhead += slot.sent - slot.started();
    for (const slot of this.#dismissed) handedAhead += slot.sent - slot.started();
    return this.#queued + handedAhead;
  }

  /** Dismissed workers not yet joined by {@linkcode ThreadPool.joinAllDismissedWorkers}. */
  get dismissed(): number {
    return this.#dismissed.length;
  }

  /** Worker threads of this pool that are running now; 0 after `close()`. */
  get liveThreads(): number {
    let live = 0;
    for (const slot of this.#slots) if (slot.thread !== null) live++;
    for (const slot of this.#dismissed) if (slot.thread !== null) live++;
    return live;
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
    if (!Number.isInteger(count) || count < 0) {
      throw new RangeError(
        `Cannot create workers as 'count' must be a non-negative integer: current value is ${count}`,
      );
    }
    for (let i = 0; i < count; i++) {
      const slot = new WorkerSlot(++this.#nextSlot);
      this.#slots.push(slot);
      this.#startThread(slot);
      this.#armIdle(slot);
    }
    this.#dispatch();
    this.#notify();
  }

  /**
   * Removes up to `count` workers, newest first. Each finishes the task it is
   * running, then exits; tasks it had been handed and not begun go back to
   * the queue.
   *
   * @param count How many workers to remove.
   * @param options `join: true` waits until they have exited.
   */
  async dismissWorkers(count: number, options: { join?: boolean } = {}): Promise<void> {
    this.#assertOpen("dismiss workers");
    if (!Number.isInteger(count) || count < 0) {
      throw new RangeError(
        `Cannot dismiss workers as 'count' must be a non-negative integer: current value is ${count}`,
      );
    }
    const victims = this.#slots.splice(Math.max(0, this.#slots.length - count));
    for (const slot of victims) {
      this.#dismissed.push(slot);
      if (slot.inflight.size === 0) {
        slot.dismissed = true;
        this.#retire(slot);
      } else {
        slot.dismiss();
      }
    }
    this.#notify();
    if (options.join) {
      await Promise.all(victims.map((slot) => slot.exited.promise));
      this.#forget(victims);
    }
  }

  /** Waits until every dismissed worker has exited, then forgets them. */
  async joinAllDismissedWorkers(): Promise<void> {
    const slots = [...this.#dismissed];
    await Promise.all(slots.map((slot) => slot.exited.promise));
    this.#forget(slots);
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
    const { block = true, timeout } = options;
    if (timeout !== undefined) duration("timeout", timeout);
    const job = this.#job(
      resolveTask(request.task),
      request.args,
      request.transfer,
      this.#channelSink,
      request,
    );
    takenRequests.add(request);
    try {
      await this.#admit(job, block, timeout);
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
    if (this.#pending === 0) throw new NoResultsPending();
    if (options.block) await this.#awaitResult();
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
    while (this.#pending > 0) await this.poll({ block: true });
  }

  /**
   * The result channel as an async iterator: yields each put request's
   * outcome as it arrives (its callbacks are not called), and ends when no
   * request is pending.
   *
   * @throws {NoWorkersAvailable} When requests are pending and no worker is left.
   */
  async *results(): AsyncIterableIterator<Settled> {
    while (this.#pending > 0) {
      await this.#awaitResult();
      yield this.#take()!;
    }
  }

  /**
   * Runs one task and resolves with its result.
   *
   * @param task The task to call.
   * @param args Its arguments.
   * @param options What to transfer rather than copy.
   * @returns The task's result.
   * @throws {TaskError} When the task throws or rejects.
   * @throws {WorkerLostError} When its worker dies while running it.
   * @throws {TypeError} When the task or an argument cannot be sent.
   * @throws {PoolClosedError} When the pool is closed.
   */
  async run<T extends TaskSpec>(
    task: T,
    args?: TaskArgs<T>,
    options: RunOptions = {},
  ): Promise<TaskResult<T>> {
    this.#assertOpen("run a task");
    const list = args ?? [];
    if (!Array.isArray(list)) {
      throw new TypeError(
        `Cannot run a task with args ${Deno.inspect(list)}: args must be an array`,
      );
    }
    const { promise, resolve, reject } = Promise.withResolvers<TaskResult<T>>();
    const job = this.#job(
      resolveTask(task),
      list,
      options.transfer ?? [],
      new PromiseSink(resolve as (value: unknown) => void, reject),
    );
    await this.#admit(job, true, undefined);
    return await promise;
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
   * @param options Order and chunking.
   * @returns The results.
   */
  map<T extends TaskSpec>(
    task: T,
    inputs: Iterable<unknown> | AsyncIterable<unknown>,
    options: MapOptions = {},
  ): AsyncIterableIterator<TaskResult<T>> {
    return this.#map(task, inputs, options) as AsyncIterableIterator<TaskResult<T>>;
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
    if (this.#closing === null) {
      for (
        let waiter = this.#roomWaiters.shift();
        waiter !== undefined;
        waiter = this.#roomWaiters.shift()
      ) {
        if (waiter.done) continue;
        clearTimeout(waiter.timer);
        waiter.done = true;
        waiter.reject(
          new PoolClosedError("Cannot put a request: the pool was closed while it waited for room"),
        );
      }
      this.#closing = this.#shutdown();
    }
    if (options.force) this.#failEverything();
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
    this.#assertOpen("map a task");
    const resolved = resolveTask(task);
    const ordered = options.ordered ?? true;
    const chunkSize = options.chunkSize ?? 1;
    if (!Number.isInteger(chunkSize) || chunkSize < 1) {
      throw new RangeError(
        `Cannot map as 'chunkSize' must be a positive integer: current value is ${chunkSize}`,
      );
    }
    const source = Symbol.asyncIterator in inputs
      ? inputs[Symbol.asyncIterator]()
      : (inputs as Iterable<unknown>)[Symbol.iterator]();
    const sink = new MapSink();
    const window = Math.max(2, 2 * this.#slots.length * this.#concurrency);
    let exhausted = false;
    let sent = 0;
    let yielded = 0;
    let read = 0;
    try {
      for (;;) {
        while (!exhausted && sent - yielded < window) {
          const calls: unknown[][] = [];
          while (calls.length < chunkSize) {
            const item = await source.next();
            if (item.done) {
              exhausted = true;
              break;
            }
            const args = Array.isArray(item.value) ? item.value : [item.value];
            assertClonable(args, `inputs[${read++}]`);
            calls.push(args);
          }
          if (calls.length === 0) break;
          const job = chunkSize === 1
            ? this.#job(resolved, calls[0]!, [], sink, sent)
            : this.#job(resolved, calls, [], sink, sent, true);
          sink.jobs.set(sent++, job);
          await this.#admit(job, true, undefined);
        }
        if (yielded === sent) return;
        const outcome = await sink.take(ordered ? yielded : undefined);
        yielded++;
        if (!outcome.ok) throw outcome.error;
        if (chunkSize === 1) {
          yield outcome.value;
          continue;
        }
        for (const [ok, value] of outcome.value as ChunkOutcome[]) {
          if (!ok) throw taskError(value, resolved);
          yield value;
        }
      }
    } finally {
      for (const job of sink.jobs.values()) this.#drop(job);
      if (!exhausted) await source.return?.();
    }
  }

  #job(
    task: ResolvedTask,
    args: readonly unknown[],
    transfer: readonly Transferable[],
    sink: Sink,
    token?: unknown,
    chunk = false,
  ): Job {
    if (!chunk) assertClonable(args);
    return {
      id: ++this.#nextJob,
      task,
      args,
      transfer,
      chunk,
      sink,
      token,
      state: NEW,
      slot: null,
      seq: 0,
    };
  }

  /** Queues the job now, or once there is room. */
  #admit(job: Job, block: boolean, timeout: number | undefined): Promise<void> | void {
    if (this.#maxQueue === 0 || (this.#roomWaiters.length === 0 && this.queued < this.#maxQueue)) {
      this.#enqueue(job);
      return;
    }
    if (!block) {
      return Promise.reject(
        new QueueFullError(
          `The request queue is full: ${this.#maxQueue} requests are waiting to start`,
        ),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: RoomWaiter = { job, resolve, reject, timer: undefined, done: false };
      if (timeout !== undefined) {
        waiter.timer = setTimeout(() => {
          waiter.done = true;
          reject(
            new QueueFullError(
              `The request queue was still full after ${timeout} ms: ${this.#maxQueue} requests are waiting to start`,
            ),
          );
        }, timeout);
      }
      this.#roomWaiters.push(waiter);
      for (const slot of this.#slots) slot.reportStarts(true);
      this.#wakeRoom();
    });
  }

  #enqueue(job: Job): void {
    job.state = QUEUED;
    this.#queue.push(job);
    this.#queued++;
    this.#active++;
    if (job.sink === this.#channelSink) this.#pending++;
    this.#dispatch();
  }

  /** Lets waiting producers in, oldest first, while there is room. */
  #wakeRoom(): void {
    while (this.#roomWaiters.length > 0) {
      const waiter = this.#roomWaiters.peek()!;
      if (!waiter.done) {
        if (this.queued >= this.#maxQueue) return;
        clearTimeout(waiter.timer);
        waiter.done = true;
        this.#enqueue(waiter.job);
        waiter.resolve();
      }
      this.#roomWaiters.shift();
    }
    for (const slot of this.#slots) slot.reportStarts(false);
  }

  /** Sends queued jobs to the least loaded workers that have capacity. */
  #dispatch(): void {
    while (this.#queued > 0) {
      let best: WorkerSlot | undefined;
      for (const slot of this.#slots) {
        if (
          slot.inflight.size < this.#capacity &&
          (best === undefined || slot.inflight.size < best.inflight.size)
        ) {
          best = slot;
        }
      }
      if (best === undefined) return;
      const job = this.#queue.shift()!;
      if (job.state !== QUEUED) continue;
      if (
        job.sink === this.#channelSink && this.#maxResults > 0 &&
        this.#channel.length + this.#channelRunning >= this.#maxResults
      ) {
        this.#queue.unshift(job);
        return;
      }
      this.#send(best, job);
    }
  }

  #send(slot: WorkerSlot, job: Job): void {
    if (slot.thread === null) this.#startThread(slot);
    const { id, task, args, chunk } = job;
    try {
      slot.post(
        {
          t: "run",
          tasks: [
            chunk
              ? { id, module: task.href, name: task.name, args: args as unknown[], chunk }
              : { id, module: task.href, name: task.name, args: args as unknown[] },
          ],
        },
        job.transfer as Transferable[],
      );
    } catch (error) {
      this.#settle(
        job,
        false,
        new TypeError(
          `Cannot send the arguments of task "${task.name}" to a worker: ${message(error)}`,
          { cause: error },
        ),
      );
      return;
    }
    this.#queued--;
    job.state = SENT;
    job.slot = slot;
    job.seq = slot.sent++;
    slot.inflight.set(id, job);
    if (job.sink === this.#channelSink) this.#channelRunning++;
  }

  #settle(job: Job, ok: boolean, value: unknown): void {
    if (job.state === SETTLED || job.state === DROPPED) return;
    if (job.state === QUEUED) this.#queued--;
    job.slot?.inflight.delete(job.id);
    if (ok) job.sink.resolve(job, value);
    else job.sink.reject(job, value as Error);
    job.state = SETTLED;
    job.slot = null;
    this.#active--;
    this.#notify();
  }

  /** Takes a queued job out for good, its outcome unwanted; a running one runs on. */
  #drop(job: Job): void {
    if (job.state !== QUEUED) return;
    job.state = DROPPED;
    this.#queued--;
    this.#active--;
    this.#wakeRoom();
    this.#notify();
  }

  #onMessage(slot: WorkerSlot, message: FromWorker): void {
    switch (message.t) {
      case "done": {
        const job = slot.inflight.get(message.id);
        if (job === undefined) return;
        if (message.ok) this.#settle(job, true, message.value);
        else this.#settle(job, false, taskError(message.error, job.task));
        this.#afterProgress(slot);
        return;
      }
      case "started":
        this.#wakeRoom();
        return;
      case "ready":
        slot.ready = true;
        return;
      case "returned": {
        // The worker is the authority on what it had not started.
        for (let i = message.ids.length - 1; i >= 0; i--) {
          const job = slot.inflight.get(message.ids[i]!);
          if (job === undefined) continue;
          slot.sent--;
          this.#requeue(job);
        }
        this.#afterProgress(slot);
        return;
      }
      case "fatal": {
        const error = fromWireError(message.error);
        this.#onLost(slot, `it had an uncaught error: ${error.name}: ${error.message}`, error);
        return;
      }
      case "exit":
        this.#onLost(slot, message.how);
        return;
    }
  }

  #afterProgress(slot: WorkerSlot): void {
    if (slot.inflight.size === 0) {
      if (slot.dismissed) this.#retire(slot);
      else this.#armIdle(slot);
    }
    this.#dispatch();
    if (this.#roomWaiters.length > 0) this.#wakeRoom();
  }

  /**
   * The slot's thread died. What it was running fails; what it had only been
   * handed goes back to the front of the queue, in order. A thread that died
   * before it ever loaded fails everything it was handed, or a worker that
   * cannot start would be retried forever.
   */
  #onLost(slot: WorkerSlot, how: string, error?: Error): void {
    const started = slot.started();
    const loaded = slot.ready;
    const jobs = [...slot.inflight.values()];
    slot.stop();
    const cause = error ?? new Error(how);
    const requeue: Job[] = [];
    for (const job of jobs) {
      // Transferred arguments went with the dead thread: they cannot be sent again.
      if (job.seq < started || !loaded || job.transfer.length > 0) {
        const what = loaded ? "while running this request" : "before it could start";
        this.#settle(
          job,
          false,
          new WorkerLostError(`Worker #${slot.id} was lost ${what}: ${how}`, { cause }),
        );
      } else {
        requeue.push(job);
      }
    }
    for (let i = requeue.length - 1; i >= 0; i--) this.#requeue(requeue[i]!);
    if (slot.dismissed) this.#retire(slot);
    else this.#armIdle(slot);
    this.#dispatch();
    if (this.#roomWaiters.length > 0) this.#wakeRoom();
    this.#notify();
  }

  #requeue(job: Job): void {
    job.slot!.inflight.delete(job.id);
    if (job.sink === this.#channelSink) this.#channelRunning--;
    job.slot = null;
    job.state = QUEUED;
    this.#queue.unshift(job);
    this.#queued++;
  }

  #startThread(slot: WorkerSlot): void {
    slot.start(this.#host, this.#concurrency, this.#name);
    if (this.#roomWaiters.length > 0) slot.reportStarts(true);
  }

  #retire(slot: WorkerSlot): void {
    slot.stop();
    slot.exited.resolve();
    this.#notify();
  }

  #forget(slots: WorkerSlot[]): void {
    for (const slot of slots) {
      const index = this.#dismissed.indexOf(slot);
      if (index !== -1) this.#dismissed.splice(index, 1);
    }
  }

  /** Stops the slot's thread once it has been idle for `idleTimeout`. */
  #armIdle(slot: WorkerSlot): void {
    if (slot.thread === null || this.#idleTimeout === Infinity) return;
    slot.idleSince = performance.now();
    if (slot.idleTimer === undefined) this.#idleTimerFor(slot, this.#idleTimeout);
  }

  #idleTimerFor(slot: WorkerSlot, delay: number): void {
    slot.idleTimer = setTimeout(() => {
      slot.idleTimer = undefined;
      if (slot.thread === null || slot.inflight.size > 0) return;
      const left = slot.idleSince + this.#idleTimeout - performance.now();
      if (left > 1) this.#idleTimerFor(slot, left);
      else slot.stop();
    }, delay);
    // The timer must not itself keep the process alive.
    Deno.unrefTimer(slot.idleTimer as unknown as number);
  }

  /** Waits until a result is in the channel. */
  async #awaitResult(): Promise<void> {
    while (this.#channel.length === 0) {
      if (this.#pending === 0) throw new NoResultsPending();
      if (
        this.#slots.length === 0 &&
        !this.#dismissed.some((slot) => hasChannelJob(slot, this.#channelSink))
      ) {
        throw new NoWorkersAvailable(
          `No workers available: ${this.#pending} requests are pending and the pool has no worker to run them; call createWorkers()`,
        );
      }
      this.#changed ??= Promise.withResolvers();
      await this.#changed.promise;
    }
  }

  #take(): Settled | undefined {
    const settled = this.#channel.shift();
    if (settled === undefined) return undefined;
    this.#pending--;
    if (this.#maxResults > 0) this.#dispatch();
    return settled;
  }

  #notify(): void {
    const changed = this.#changed;
    this.#changed = null;
    changed?.resolve();
  }

  async #shutdown(): Promise<void> {
    while (this.#active > 0) {
      this.#changed ??= Promise.withResolvers();
      await this.#changed.promise;
    }
    for (const slot of this.#slots) slot.stop();
    for (const slot of this.#dismissed) this.#retire(slot);
    this.#notify();
  }

  #failEverything(): void {
    const closed = () =>
      new PoolClosedError("The pool was closed with force: true before this request finished");
    for (let job = this.#queue.shift(); job !== undefined; job = this.#queue.shift()) {
      this.#settle(job, false, closed());
    }
    for (const slot of [...this.#slots, ...this.#dismissed]) {
      const jobs = [...slot.inflight.values()];
      slot.stop();
      for (const job of jobs) this.#settle(job, false, closed());
    }
  }

  #assertOpen(action: string): void {
    if (this.#closing !== null) throw new PoolClosedError(`Cannot ${action}: the pool is closed`);
  }
}

function taskError(wire: WireError, task: ResolvedTask): TaskError {
  const cause = fromWireError(wire);
  const error = new TaskError(cause.message, { cause });
  const frames = cause.stack?.split("\n").slice(1).join("\n");
  error.stack = `TaskError: ${cause.message}\n    in task "${task.name}" of ${task.href}` +
    (frames ? `\n${frames}` : "");
  return error;
}

function hasChannelJob(slot: WorkerSlot, channel: Sink): boolean {
  for (const job of slot.inflight.values()) if (job.sink === channel) return true;
  return false;
}

function count(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) {
    throw new RangeError(
      `Cannot create the pool as '${name}' must be a non-negative integer: current value is ${value}`,
    );
  }
  return value;
}

function duration(name: string, value: number): number {
  if (typeof value !== "number" || Number.isNaN(value) || value < 0) {
    throw new RangeError(
      `'${name}' must be a non-negative number of milliseconds: current value is ${value}`,
    );
  }
  return value;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === "object" && value !== null &&
    typeof (value as { then?: unknown }).then === "function";
}
