/**
 * Main thread, the front: the options of the pool and of its calls, as users write them.
 *
 * @module
 */

import type { RateLimit } from "../core/rate_limit.ts";
import type { TaskFunction, TaskSpec } from "../core/task.ts";

/**
 * A task that prepares each new worker thread: it runs once on every thread
 * before the thread's first task, so that what it sets up (module state, a
 * loaded model, an opened database) is there for every task, also on the
 * threads that replace stopped, recycled or lost ones.
 *
 * If it throws, rejects, or does not finish within `timeout`, the thread is
 * stopped, and the requests it had been handed fail with `WorkerLostError`
 * (its `cause` the initializer's `TaskError`); the pool keeps its size and
 * tries a fresh thread, with the initializer, for the next requests.
 *
 * @typeParam F The initializer function's type.
 *
 * @example Load once per thread what every task uses
 * ```ts
 * import { type Initializer, ThreadPool } from "@scope/threadpool";
 * import { equal } from "node:assert/strict";
 *
 * const source = "let base = 0; export function setup(n) { base = n; } " +
 *   "export function add(n) { return base + n; }";
 * const module = `data:text/javascript,${encodeURIComponent(source)}`;
 *
 * const initializer: Initializer = { module, name: "setup", args: [100] };
 * await using pool = new ThreadPool(2, { initializer });
 * equal(await pool.run({ module, name: "add" }, [1]), 101);
 * ```
 */
export interface Initializer<F extends TaskFunction = TaskFunction> extends TaskSpec<F> {
  /**
   * The arguments it is called with, on every thread: structured-clonable.
   *
   * @default {[]}
   */
  readonly args?: Parameters<F>;
  /**
   * Milliseconds it may take on a thread before that thread is given up.
   *
   * @default {30000}
   */
  readonly timeout?: number;
}

/**
 * A task that cleans up each worker thread: the {@linkcode Initializer}'s
 * counterpart. It runs once on a thread that stops gracefully — idle, its
 * worker dismissed, recycled, or the pool closed — after the thread's last
 * task (and after its initializer, if that was still running), so that what
 * the initializer opened (a connection, a file, a subprocess) is closed.
 *
 * It never runs on a thread that died, was given up (`abandoned`), or was
 * stopped by `close({ force: true })`: nothing can run on such a thread. If
 * it throws, rejects, or does not finish within `timeout`, the thread is
 * stopped all the same, and the pool dispatches an `error` event with the
 * failure (also in the `workerexit` event's `detail.error`). The thread's
 * `workerexit` event, `joinAllDismissedWorkers()` and `close()` wait for it.
 *
 * @typeParam F The finalizer function's type.
 *
 * @example Close on each thread what the initializer opened there
 * ```ts
 * import { type Finalizer, type Initializer, ThreadPool } from "@scope/threadpool";
 * import { equal } from "node:assert/strict";
 *
 * const source = "let file; " +
 *   "export function open(path) { file = Deno.openSync(path, { append: true }); } " +
 *   "export function log(line) { file.writeSync(new TextEncoder().encode(line + '\\n')); } " +
 *   "export function close() { file.close(); }";
 * const module = `data:text/javascript,${encodeURIComponent(source)}`;
 *
 * const path = await Deno.makeTempFile();
 * const initializer: Initializer = { module, name: "open", args: [path] };
 * const finalizer: Finalizer = { module, name: "close" };
 * const pool = new ThreadPool(1, { initializer, finalizer });
 * await pool.run({ module, name: "log" }, ["hello"]);
 * await pool.close(); // each thread's file is closed before close() resolves
 * equal(await Deno.readTextFile(path), "hello\n");
 * await Deno.remove(path);
 * ```
 */
export interface Finalizer<F extends TaskFunction = TaskFunction> extends TaskSpec<F> {
  /**
   * The arguments it is called with, on every thread: structured-clonable.
   *
   * @default {[]}
   */
  readonly args?: Parameters<F>;
  /**
   * Milliseconds it may take on a thread before that thread is stopped anyway.
   *
   * @default {5000}
   */
  readonly timeout?: number;
}

/**
 * Options for `ThreadPool`.
 *
 * @example A bounded queue and a default timeout
 * ```ts
 * import { ThreadPool, type ThreadPoolOptions } from "@scope/threadpool";
 * import { equal } from "node:assert/strict";
 *
 * const options: ThreadPoolOptions = { maxQueue: 100, timeout: 5_000, idleTimeout: 1_000 };
 * await using pool = new ThreadPool(2, options);
 * equal(pool.size, 2);
 * ```
 */
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
   * Whether small tasks travel through memory shared with each worker (a
   * ring of requests and one of results) instead of by message: a task
   * whose arguments and result are numbers, strings, booleans, `null`,
   * `undefined`, or dense arrays and plain objects of those (up to about
   * 2 KiB) goes that way; anything else goes by message, in order with the
   * rest, and arrives the same. Off, every task goes by message.
   *
   * @default {true}
   */
  lane?: boolean;
  /**
   * Milliseconds a task may run, from its start, when its call sets no
   * `timeout`; past it the request fails with `TaskTimeoutError`. Like every
   * duration: at most 2³¹−1, or `Infinity` for no bound.
   *
   * @default {undefined: no limit}
   */
  timeout?: number;
  /**
   * The priority of a request that sets none (see `CancelOptions.priority`).
   *
   * @default {0}
   */
  priority?: number;
  /**
   * The retry policy of a request that sets none (see `RetryOptions`);
   * streams are never retried.
   *
   * @default {undefined: no retries}
   */
  retry?: RetryOptions;
  /**
   * At most `max` task starts in any window of `per` ms, for the whole
   * pool: requests wait for their turn (they are not failed), and starts
   * are spread evenly, `per / max` ms apart (up to 5% of the window early,
   * at most 10 ms), and none comes less than a window and that slack after
   * the `max`-th before it, as the workers time their starts; never in a
   * burst. A pool with a rate limit hands no task ahead to a busy worker, so
   * that a task starts when it is sent.
   *
   * @default {undefined: no limit}
   */
  rateLimit?: RateLimit;
  /**
   * Limits by key, for requests that name one (`rateKey`), each on top of
   * `rateLimit`: one tenant or one endpoint waiting for its limit does not
   * hold up the others. Within a key, requests start in the order they were
   * queued.
   *
   * @default {undefined: none}
   */
  rateLimits?: Record<string, RateLimit>;
  /**
   * Milliseconds a cancelled or timed-out task has to stop (it is told
   * through `taskSignal()`) before its worker is terminated and replaced;
   * `Infinity`: never replaced, the task keeps its thread until it ends.
   *
   * @default {500}
   */
  cancelGrace?: number;
  /**
   * Tasks a worker's thread runs before it is replaced by a fresh one, which
   * contains leaks (Web Workers have no memory limit); `0` means never.
   *
   * @default {0}
   */
  maxTasksPerWorker?: number;
  /**
   * What the workers may do, in Deno's terms: `"inherit"` (what this thread
   * may do), `"none"`, or an object granting each of `env`, `ffi`, `import`,
   * `net`, `read`, `run`, `sys`, `write` as `"inherit"`, `true`/`false` or a
   * list (left out: revoked). The pool adds read access to each task module
   * (and import access to a remote module's host), and nothing else: a task
   * module's own local imports must be granted too. A task that oversteps
   * fails with Deno's `NotCapable` as its `TaskError` cause.
   *
   * Anything but `"inherit"` needs Deno's `--unstable-worker-options` flag
   * (or `"unstable": ["worker-options"]` in deno.json): the pool checks, and
   * throws `UnstableFlagError` rather than let Deno end the process.
   *
   * @default {"inherit"}
   */
  permissions?: Deno.PermissionOptions;
  /**
   * Tells the pool that Deno runs with `--unstable-worker-options` when it
   * cannot see that for itself (it reads the command line only on Linux with
   * `--allow-all`, and otherwise looks for the deno.json setting). If Deno
   * does not, it exits with code 70 when the first worker starts.
   *
   * @default {false}
   */
  unstableWorkerOptions?: boolean;
  /**
   * A task run once on every new thread before its first task (see
   * {@linkcode Initializer}). Module state it sets survives for that thread's
   * life; a thread stopped when idle loses it, and its replacement runs the
   * initializer again.
   *
   * @default {undefined: none}
   */
  initializer?: Initializer;
  /**
   * A task run once on every thread that stops gracefully, after its last
   * task (see {@linkcode Finalizer}): it closes what the initializer opened.
   *
   * @default {undefined: none}
   */
  finalizer?: Finalizer;
  /**
   * A name for the workers' threads, as seen in stack traces and inspectors.
   *
   * @default {"threadpool"}
   */
  name?: string;
}

/**
 * Options for `ThreadPool.putRequest()`.
 *
 * @example Refuse at once when the queue is full
 * ```ts
 * import { QueueFullError, ThreadPool, WorkRequest } from "@scope/threadpool";
 * import { rejects } from "node:assert/strict";
 *
 * const source = "export function add(a, b) { return a + b; }";
 * const module = `data:text/javascript,${encodeURIComponent(source)}`;
 *
 * const add = { module, name: "add" };
 * await using pool = new ThreadPool(0, { maxQueue: 1 });
 * await pool.putRequest(new WorkRequest(add, [1, 1]));
 * await rejects(pool.putRequest(new WorkRequest(add, [2, 2]), { block: false }), QueueFullError);
 * await pool.close({ force: true });
 * ```
 */
export interface PutOptions {
  /**
   * Wait while the queue is full; `false` rejects at once with
   * `QueueFullError`.
   *
   * @default {true}
   */
  block?: boolean;
  /**
   * Milliseconds to wait for room before rejecting with
   * `QueueFullError`.
   *
   * @default {undefined: no limit}
   */
  timeout?: number;
}

/**
 * Options for `ThreadPool.poll()`.
 *
 * @example Wait for the first result
 * ```ts
 * import { ThreadPool, WorkRequest } from "@scope/threadpool";
 * import { deepEqual } from "node:assert/strict";
 *
 * const source = "export function add(a, b) { return a + b; }";
 * const module = `data:text/javascript,${encodeURIComponent(source)}`;
 *
 * const add = { module, name: "add" };
 * await using pool = new ThreadPool(1);
 * const sums: number[] = [];
 * await pool.putRequest(new WorkRequest<number>(add, [1, 2], { callback: (_, sum) => sums.push(sum) }));
 * await pool.poll({ block: true });
 * deepEqual(sums, [3]);
 * ```
 */
export interface PollOptions {
  /**
   * Wait until at least one result is there, rather than return at once.
   *
   * @default {false}
   */
  block?: boolean;
}

/**
 * Options for `results()`.
 *
 * @example Following the result channel until the pool closes
 * ```ts
 * import { type Settled, ThreadPool, WorkRequest } from "@scope/threadpool";
 * import { deepEqual } from "node:assert/strict";
 *
 * const source = "export function add(a, b) { return a + b; }";
 * const module = `data:text/javascript,${encodeURIComponent(source)}`;
 *
 * const add = { module, name: "add" };
 * const pool = new ThreadPool(1);
 * const sums: unknown[] = [];
 * const consumer = (async () => {
 *   for await (const outcome of pool.results({ follow: true })) {
 *     if (outcome.ok) sums.push(outcome.value);
 *   }
 * })();
 * // The producer may start later, and pause: the consumer waits for it.
 * await new Promise((resolve) => setTimeout(resolve, 10));
 * for (let i = 0; i < 3; i++) await pool.putRequest(new WorkRequest(add, [i, i]));
 * await pool.close(); // the consumer takes what is pending, then its loop ends
 * await consumer;
 * deepEqual(sums, [0, 2, 4]);
 * ```
 */
export interface ResultsOptions {
  /**
   * Follow the result channel for the life of the pool: when no request is
   * pending, wait for the next put rather than end; end once the pool is
   * closed and nothing is pending. A follower also waits, rather than throw
   * `NoWorkersAvailable`, while the pool has no worker (workers may be added
   * again; `close()` fails what none can run, and that outcome is yielded).
   *
   * @default {false: end as soon as no request is pending}
   */
  follow?: boolean;
}

/**
 * When a call starts, and how it may end early: shared by `run()`,
 * `stream()`, `map()` and `WorkRequest`.
 *
 * @example A signal and a timeout on one call
 * ```ts
 * import { ThreadPool } from "@scope/threadpool";
 * import { rejects } from "node:assert/strict";
 *
 * const source = "export function add(a, b) { return a + b; }";
 * const module = `data:text/javascript,${encodeURIComponent(source)}`;
 *
 * const add = { module, name: "add" };
 * await using pool = new ThreadPool(1);
 * const signal = AbortSignal.abort(new Error("not wanted"));
 * await rejects(pool.run(add, [1, 2], { signal, timeout: 1_000 }), /not wanted/);
 * ```
 */
export interface CancelOptions {
  /**
   * Cancels the request when it aborts: at once with `signal.reason`,
   * wherever the request is. A running task is told through `taskSignal()`.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * Milliseconds the task may run, from its start; past it the request fails
   * with `TaskTimeoutError`.
   *
   * @default {the pool's `timeout`}
   */
  timeout?: number;
  /**
   * An integer from −1,000,000 to 1,000,000: a request starts before every
   * queued request of lower priority that has not started (those handed
   * ahead to a worker included), first in, first out among equals. A
   * running task is not interrupted. Priorities are strict: a constant
   * stream of higher ones keeps lower ones waiting.
   *
   * @default {the pool's `priority`}
   */
  priority?: number;
  /**
   * Puts the request under the pool's limit of that key (`rateLimits`), as
   * well as the pool's own `rateLimit`: requests of one key wait for its
   * limit without holding up the others.
   *
   * @default {undefined: the pool's own limit only}
   */
  rateKey?: string;
  /**
   * Try the request again when it fails (see `RetryOptions`). Not for
   * `stream()` (its values would come twice), nor for a `map()` with
   * `chunkSize` above 1.
   *
   * @default {the pool's `retry`: none}
   */
  retry?: RetryOptions;
}

/**
 * How a failed request is tried again: a request's `retry` option, or the
 * pool's default. By default a task's error (`TaskError`) and a lost worker
 * (`WorkerLostError`) are retried, a timeout only with `timeouts: true`, a
 * cancellation never. Each attempt has its own `timeout`; the request's
 * `signal` stops the retries, also while it waits between two. When the
 * last of several attempts fails, the request fails with a `RetryError`
 * holding each attempt's error.
 *
 * @example Three attempts, half a second apart and then a second
 * ```ts
 * import type { RetryOptions } from "@scope/threadpool";
 *
 * const retry: RetryOptions = { attempts: 3, delay: 500, backoff: "exponential", jitter: 0.2 };
 * ```
 */
export interface RetryOptions {
  /** Attempts in all, the first included: 1 to 100 (1 does not retry). */
  attempts: number;
  /**
   * Milliseconds between the first failure and the second attempt.
   *
   * @default {100}
   */
  delay?: number;
  /**
   * `"fixed"`: `delay` every time; `"exponential"`: `delay` doubled after
   * each failure (`delay`, `2 × delay`, `4 × delay`, ...), up to `maxDelay`.
   *
   * @default {"exponential"}
   */
  backoff?: "fixed" | "exponential";
  /**
   * The longest wait between two attempts, in milliseconds.
   *
   * @default {30000}
   */
  maxDelay?: number;
  /**
   * The share of each wait that is random, from 0 to 1: a wait of `d` becomes
   * one between `d × (1 − jitter)` and `d`, so that requests that failed
   * together do not all come back together.
   *
   * @default {0}
   */
  jitter?: number;
  /**
   * Whether an attempt that ran past its `timeout` is tried again.
   *
   * @default {false}
   */
  timeouts?: boolean;
  /**
   * Decides instead of the defaults, given the attempt's error and its
   * number (1 for the first): `true` tries again (while attempts are left).
   * It is never asked about a cancellation or a closed pool. If it throws,
   * the request is not tried again, and its error is reported.
   *
   * @default {undefined: a TaskError or a WorkerLostError (and a TaskTimeoutError with `timeouts`)}
   */
  retryOn?: (error: unknown, attempt: number) => boolean;
}

/**
 * Options for `ThreadPool.run()`.
 *
 * @example Transfer a buffer instead of copying it
 * ```ts
 * import { ThreadPool } from "@scope/threadpool";
 * import { equal } from "node:assert/strict";
 *
 * const source = "export function size(buffer) { return buffer.byteLength; }";
 * const size = { module: `data:text/javascript,${encodeURIComponent(source)}`, name: "size" };
 * await using pool = new ThreadPool(1);
 * const buffer = new ArrayBuffer(1024);
 * equal(await pool.run(size, [buffer], { transfer: [buffer] }), 1024);
 * equal(buffer.byteLength, 0); // moved to the worker
 * ```
 */
export interface RunOptions extends CancelOptions {
  /**
   * Objects in the arguments to transfer, not copy, to the worker.
   *
   * @default {[]}
   */
  transfer?: Transferable[];
  /**
   * Called on this thread with each progress report the task makes (with
   * `progress()` from `@scope/threadpool/task`), before its result. A report
   * waits until this has taken the one before, and a newer one replaces it:
   * a slow listener gets the latest value, never a backlog. An error it
   * throws is reported as an event listener's would be (`reportError`).
   *
   * @default {undefined: the task's reports are not sent}
   */
  onProgress?: (value: unknown) => void;
}

/**
 * Options for `stream()`.
 *
 * @example A stream read slowly: its task is never far ahead
 * ```ts
 * import { ThreadPool } from "@scope/threadpool";
 * import { deepEqual } from "node:assert/strict";
 *
 * const source = "export function* count(n) { for (let i = 0; i < n; i++) yield i; }";
 * const module = `data:text/javascript,${encodeURIComponent(source)}`;
 *
 * await using pool = new ThreadPool(1);
 * const values: unknown[] = [];
 * for await (const value of pool.stream({ module, name: "count" }, [5], { highWaterMark: 2 })) {
 *   values.push(value);
 * }
 * deepEqual(values, [0, 1, 2, 3, 4]);
 * ```
 */
export interface StreamOptions extends RunOptions {
  /**
   * How many values the task may be ahead of the reader: made and not yet
   * read, those on their way included. The task's generator is pulled only
   * while there is room. The default lets small values flow fast (room is
   * given back in large steps); for large values, a smaller one bounds the
   * memory they take.
   *
   * @default {1024 on a ThreadPool, 4096 on a ClusterPool}
   */
  highWaterMark?: number;
}

/**
 * One input's outcome from `map()` with `settled: true`, shaped as
 * `results()`'s `Settled`: `index` is the input's place.
 */
export type MapSettled<R = unknown> =
  | { index: number; ok: true; value: R }
  | { index: number; ok: false; error: unknown };

/**
 * Options for `ThreadPool.map()`.
 *
 * @example Results as they finish, several inputs per message
 * ```ts
 * import { ThreadPool } from "@scope/threadpool";
 * import { deepEqual } from "node:assert/strict";
 *
 * const source = "export function add(a, b) { return a + b; }";
 * const module = `data:text/javascript,${encodeURIComponent(source)}`;
 *
 * const add = { module, name: "add" };
 * await using pool = new ThreadPool(2);
 * const sums: number[] = [];
 * for await (const sum of pool.map(add, [[1, 1], [2, 2], [3, 3]], { ordered: false, chunkSize: 2 })) {
 *   sums.push(sum as number);
 * }
 * deepEqual(sums.sort(), [2, 4, 6]);
 * ```
 */
export interface MapOptions extends CancelOptions {
  /**
   * Yield results in input order; `false` yields them as they finish.
   *
   * @default {true}
   */
  ordered?: boolean;
  /**
   * Yield each input's outcome (`MapSettled`: `{ index, ok, value }` or
   * `{ index, ok: false, error }`, `index` the input's place) and go on past
   * failures, as `Promise.allSettled` would; without it, the first failure
   * ends the iteration.
   *
   * @default {false}
   */
  settled?: boolean;
  /**
   * Inputs sent to a worker in one message and run there one after another.
   * A `timeout` then applies to the whole chunk.
   *
   * @default {1}
   */
  chunkSize?: number;
}

/**
 * Options for `ThreadPool.close()`.
 *
 * @example Stop now, failing what is pending
 * ```ts
 * import { PoolClosedError, ThreadPool } from "@scope/threadpool";
 * import { rejects } from "node:assert/strict";
 *
 * const source = "export function add(a, b) { return a + b; }";
 * const module = `data:text/javascript,${encodeURIComponent(source)}`;
 *
 * const add = { module, name: "add" };
 * const pool = new ThreadPool(0);
 * const pending = pool.run(add, [1, 2]);
 * await pool.close({ force: true });
 * await rejects(pending, PoolClosedError);
 * ```
 */
export interface CloseOptions {
  /**
   * Fail every pending request with `PoolClosedError` and stop the
   * workers now, rather than let queued and running work finish.
   *
   * @default {false}
   */
  force?: boolean;
}
