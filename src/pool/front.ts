/**
 * Main thread, the front: the pool's public behaviour over any engine — the
 * ancestor's `putRequest`/`poll`/`wait` with callbacks, `results()`, `run()`,
 * `map()`, `stats()`, backpressure and `close()` — with each call's input
 * checked at the call. A public pool class (`ThreadPool`) owns one front and
 * one engine, and hands each call to the front.
 *
 * @module
 */

import type { Engine } from "../core/engine.ts";
import type { Limiter, RateLimit } from "../core/rate_limit.ts";
import type { Retry } from "../core/retry.ts";
import { NoResultsPending, NoWorkersAvailable, PoolClosedError } from "../core/errors.ts";
import { NO_TRANSFER, ON_START, promiseSink } from "../core/job.ts";
import type { ThreadPoolStats } from "../core/stats.ts";
import { resolveTask, type TaskResult, type TaskSpec } from "../core/task.ts";
import { WorkQueue, type WorkQueueEvents } from "../core/work_queue.ts";
import { isThenable } from "../wire/thenable.ts";
import { assertClonable } from "./clonable.ts";
import type {
  CloseOptions,
  MapOptions,
  PollOptions,
  PutOptions,
  ResultsOptions,
  RunOptions,
  StreamOptions,
} from "./options.ts";
import { StreamState } from "./pool_stream.ts";
import { mapTasks } from "./pool_map.ts";
import { ResultChannel, type Settled } from "./result_channel.ts";
import {
  argumentList,
  callback as checkCallback,
  cancelLimits,
  flag,
  integer,
  milliseconds,
  optionsArgument,
  rateKeyOption,
  retryOption,
  transferList,
} from "./validate.ts";
import { takenRequests, WorkRequest } from "./work_request.ts";

/** What a front is built with, checked. */
export interface FrontOptions {
  /** How many requests may wait to start; 0: no bound. */
  maxQueue: number;
  /** How many put requests' results may wait for `poll()`; 0: no bound. */
  maxResults: number;
  /** The timeout of a request that sets none; undefined: none. */
  timeout: number | undefined;
  /** The priority of a request that sets none. */
  priority: number;
  /** The retry policy of a request that sets none; undefined: none. */
  retry: Retry | undefined;
  /** The pool's rate limits by key (its own under ""), for checking a request's `rateKey`. */
  rateLimits: ReadonlyMap<string, RateLimit>;
  /** Where they are kept, if here (a ThreadPool); null: the engine keeps them (on the nodes). */
  limiter: Limiter | null;
  /** What `NoWorkersAvailable` advises, for this kind of pool. */
  noWorkersHint: string;
  /** How many values a stream's task may be ahead of its reader, by default. */
  streamHighWaterMark: number;
  events: WorkQueueEvents;
}

/** The pool's behaviour over `engine`. */
export class PoolFront {
  readonly #engine: Engine;
  readonly #queue: WorkQueue;
  readonly #channel: ResultChannel;
  readonly #hint: string;
  readonly #streamHighWaterMark: number;
  readonly #rateLimits: ReadonlyMap<string, RateLimit>;
  #closing: Promise<void> | null = null;

  /** Creates the front of `engine`. */
  constructor(engine: Engine, options: FrontOptions) {
    this.#engine = engine;
    this.#queue = new WorkQueue(engine, options);
    this.#channel = new ResultChannel(options.maxResults, () => this.#queue.changed());
    this.#hint = options.noWorkersHint;
    this.#streamHighWaterMark = options.streamHighWaterMark;
    this.#rateLimits = options.rateLimits;
  }

  /** Put requests not yet handed to a callback or to `results()`. */
  get pending(): number {
    return this.#channel.pending;
  }

  /** Requests accepted and not yet started, including any handed ahead to a worker. */
  get queued(): number {
    return this.#queue.queued;
  }

  /** Whether `close()` has been called. */
  get closed(): boolean {
    return this.#closing !== null;
  }

  /** Throws if the pool is closed. */
  assertOpen(action: string): void {
    if (this.#closing !== null) throw new PoolClosedError(`Cannot ${action}: the pool is closed`);
  }

  /** Queues a put request; its outcome goes to the result channel. */
  async putRequest<R>(request: WorkRequest<R>, options: PutOptions): Promise<void> {
    const action = "put a request";
    this.assertOpen(action);
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
    const { block = true, timeout } = optionsArgument(action, "options", options);
    flag(action, "block", block);
    if (timeout !== undefined) milliseconds(action, "timeout", timeout);
    const task = resolveTask(request.task);
    assertClonable(request.args);
    cancelLimits(action, request);
    const job = this.#queue.job({
      task,
      args: request.args,
      transfer: request.transfer,
      sink: this.#channel,
      token: request,
      signal: request.signal,
      timeout: request.timeout,
      priority: request.priority,
      retry: retryOption(action, request.retry),
      rateKey: rateKeyOption(action, request.rateKey, this.#rateLimits),
      progress: request.progressCallback === null ? undefined : this.#channel.listen(request),
    });
    takenRequests.add(request);
    try {
      await this.#queue.admit(job, block, timeout);
    } catch (error) {
      takenRequests.delete(request);
      throw error;
    }
  }

  /** Hands the results that have arrived to their callbacks. */
  async poll(options: PollOptions): Promise<void> {
    const block = flag("poll", "block", optionsArgument("poll", "options", options).block);
    if (this.#channel.pending === 0 || !await this.#handle(block === true)) {
      throw new NoResultsPending();
    }
  }

  /** Polls, blocking, until no request is pending. */
  async wait(): Promise<void> {
    while (this.#channel.pending > 0 && await this.#handle(true));
  }

  /**
   * Hands the results that have arrived to their callbacks; blocking, waits
   * for at least one (another consumer may take the one it waited for).
   * False when none was left pending to wait for.
   */
  async #handle(block: boolean): Promise<boolean> {
    await this.#report();
    let settled = this.#take();
    while (block && settled === undefined) {
      if (!await this.#untilResult(false, true)) return false;
      await this.#report();
      settled = this.#take();
    }
    for (; settled !== undefined; settled = this.#take()) {
      const { request } = settled;
      const returned = settled.ok
        ? request.callback?.(request, settled.value)
        : request.excCallback?.(request, settled.error);
      if (isThenable(returned)) await returned;
    }
    return true;
  }

  /** The result channel as an async iterator; `follow`: until the pool is closed. */
  async *results(options: ResultsOptions): AsyncGenerator<Settled> {
    // Checked here, so that a bad call rejects its first next().
    const follow = flag(
      "follow results",
      "follow",
      optionsArgument("follow results", "options", options).follow,
    ) === true;
    for (;;) {
      if (await this.#untilResult(follow)) {
        // Another consumer may have taken the one that came.
        const settled = this.#take();
        if (settled !== undefined) yield settled;
      } else if (follow && this.#closing === null) {
        await this.#queue.whenChanged(); // a put, or close()
      } else {
        return;
      }
    }
  }

  /** Runs one task and resolves with its result. */
  run<T extends TaskSpec>(task: T, args: unknown, options: RunOptions): Promise<TaskResult<T>> {
    // Not an async function: a suspended async frame per queued call would
    // triple what a queued request costs. Only `resolve` is kept (see promiseSink).
    let resolve!: (value: unknown) => void;
    const promise = new Promise<TaskResult<T>>((settle) => resolve = settle as typeof resolve);
    let job;
    try {
      const action = "run a task";
      this.assertOpen(action);
      const list = args === undefined ? [] : argumentList(action, "args", args);
      const resolved = resolveTask(task);
      assertClonable(list);
      const checked = optionsArgument(action, "options", options);
      cancelLimits(action, checked);
      const { signal, timeout, transfer, onProgress, priority, retry, rateKey } = checked;
      checkCallback(action, "onProgress", onProgress);
      if (
        signal === undefined && timeout === undefined && transfer === undefined &&
        onProgress == null && retry === undefined && rateKey === undefined &&
        !(ON_START in checked) && this.#queue.plain(resolved, list, resolve, priority)
      ) {
        return promise;
      }
      job = this.#queue.job({
        task: resolved,
        args: list,
        transfer: transferList(action, checked.transfer, NO_TRANSFER),
        sink: promiseSink,
        token: resolve,
        signal: checked.signal,
        timeout: checked.timeout,
        priority,
        retry: retryOption(action, retry),
        rateKey: rateKeyOption(action, rateKey, this.#rateLimits),
        progress: onProgress == null ? undefined : listener(onProgress),
        onStart: startHook(checked),
      });
    } catch (error) {
      return Promise.reject(error);
    }
    const admitted = this.#queue.admit(job, true, undefined);
    return admitted === undefined ? promise : admitted.then(() => promise);
  }

  /** Runs a task and gives the values it makes as a stream, pulled as the reader reads. */
  stream(task: TaskSpec, args: unknown, options: StreamOptions): ReadableStream<unknown> {
    const action = "stream a task";
    this.assertOpen(action);
    const list = args === undefined ? [] : argumentList(action, "args", args);
    const resolved = resolveTask(task);
    assertClonable(list);
    const checked = optionsArgument(action, "options", options);
    cancelLimits(action, checked);
    const { onProgress } = checked;
    checkCallback(action, "onProgress", onProgress);
    if (checked.retry !== undefined) {
      throw new TypeError(
        `Cannot ${action} with a 'retry' policy: a stream tried again would give its values twice`,
      );
    }
    const highWaterMark = checked.highWaterMark === undefined
      ? this.#streamHighWaterMark
      : integer(action, "highWaterMark", checked.highWaterMark, 1);
    // Cancelling the stream cancels its request, as its own signal would.
    const cancel = new AbortController();
    const signal = checked.signal === undefined
      ? cancel.signal
      : AbortSignal.any([checked.signal, cancel.signal]);
    const state = new StreamState(highWaterMark);
    const readable = state.readable((reason) =>
      cancel.abort(reason ?? new DOMException("The stream was cancelled", "AbortError"))
    );
    const job = this.#queue.job({
      task: resolved,
      args: list,
      transfer: transferList(action, checked.transfer, NO_TRANSFER),
      sink: state,
      token: null,
      signal,
      timeout: checked.timeout,
      priority: checked.priority,
      rateKey: rateKeyOption(action, checked.rateKey, this.#rateLimits),
      progress: onProgress == null ? undefined : listener(onProgress),
      stream: state,
      onStart: startHook(checked),
    });
    const admitted = this.#queue.admit(job, true, undefined);
    admitted?.catch((error) => state.reject(job, error));
    return readable;
  }

  /** Runs a task once per input and yields the results. */
  async *map(
    task: TaskSpec,
    inputs: Iterable<unknown> | AsyncIterable<unknown>,
    options: MapOptions,
  ): AsyncGenerator<unknown> {
    // Checked here, so that a bad call rejects its first next() and nothing is read.
    this.assertOpen("map a task");
    const { size, concurrency } = this.#engine;
    yield* mapTasks(
      this.#queue,
      size * concurrency,
      resolveTask(task),
      inputs,
      options,
      this.#rateLimits,
    );
  }

  /** A snapshot of the pool. */
  stats(): ThreadPoolStats {
    const { completed, failed, cancelled, timedOut, retried } = this.#queue.counts;
    return {
      queued: this.#queue.queued,
      running: this.#engine.running(),
      completed,
      failed,
      cancelled,
      timedOut,
      retried,
      workers: this.#engine.workers(),
      waitTime: this.#queue.waitTimes.percentiles(),
      runTime: this.#queue.runTimes.percentiles(),
      utilisation: this.#engine.utilisation(),
    };
  }

  /** Resolves when the queue has room under `maxQueue`. */
  waitForRoom(): Promise<void> {
    return this.#queue.room();
  }

  /** Resolves at the next change of the pool's state. */
  whenChanged(): Promise<void> {
    return this.#queue.whenChanged();
  }

  /** Closes the pool: no new requests; with `force`, fails what is pending. */
  close(options: CloseOptions): Promise<void> {
    let force;
    try {
      const action = "close the pool";
      force = flag(action, "force", optionsArgument(action, "options", options).force);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#closing === null) {
      this.#queue.changed(); // a follower of results() with nothing pending ends
      this.#queue.rejectWaiters(() =>
        new PoolClosedError("Cannot put a request: the pool was closed while it waited for room")
      );
      this.#closing = this.#queue.shutdown(() =>
        new PoolClosedError(
          `The pool was closed with this request queued and no worker left to run it; ${this.#hint} before close()`,
        )
      );
    }
    if (force) {
      this.#queue.failEverything(() =>
        new PoolClosedError("The pool was closed with force: true before this request finished")
      );
    }
    return this.#closing;
  }

  /** Hands the progress reports waiting to their requests' callbacks. */
  async #report(): Promise<void> {
    if (this.#channel.reports === 0) return;
    for (const [request, value] of this.#channel.takeReports()) {
      const returned = request.progressCallback?.(request, value);
      if (isThenable(returned)) await returned;
    }
  }

  /**
   * Waits until a result is in the channel (true) or none is pending any more
   * (false); throws if requests are pending that nothing can run, unless
   * `patient` (it waits for a worker, or for close() to fail them). With
   * `reports`, a progress report waiting for its callback ends the wait too.
   */
  async #untilResult(patient = false, reports = false): Promise<boolean> {
    while (this.#channel.length === 0 && !(reports && this.#channel.reports > 0)) {
      if (this.#channel.pending === 0) return false;
      if (!patient && !this.#queue.canDeliver(this.#channel)) {
        throw new NoWorkersAvailable(
          `No workers available: ${this.#channel.pending} requests are pending and the pool has no worker to run them; ${this.#hint}`,
        );
      }
      await this.#queue.whenChanged();
    }
    return true;
  }

  #take(): Settled | undefined {
    const settled = this.#channel.take();
    // Taking a result may make room under maxResults.
    if (settled !== undefined) this.#queue.pull();
    return settled;
  }
}

/** Hands progress reports to `onProgress`; what it throws goes where a listener's would. */
function listener(onProgress: (value: unknown) => void): (value: unknown) => void {
  return (value) => {
    try {
      onProgress(value);
    } catch (error) {
      reportError(error);
    }
  };
}

/** What a caller within this module asked to be told when the task starts ({@linkcode ON_START}). */
function startHook(options: object): (() => void) | undefined {
  return (options as { [ON_START]?: () => void })[ON_START];
}
