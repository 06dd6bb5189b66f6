/**
 * The options of the pool and of its calls, and how they are checked.
 *
 * @module
 */

/** Options for `ThreadPool`. */
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
   * Milliseconds a task may run, from its start, when its call sets no
   * `timeout`; past it the request fails with `TaskTimeoutError`.
   *
   * @default {undefined: no limit}
   */
  timeout?: number;
  /**
   * Milliseconds a cancelled or timed-out task has to stop (it is told
   * through `taskSignal()`) before its worker is terminated and replaced.
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
   * A name for the workers' threads, as seen in stack traces and inspectors.
   *
   * @default {"threadpool"}
   */
  name?: string;
}

/** Options for `ThreadPool.putRequest()`. */
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

/** Options for `ThreadPool.poll()`. */
export interface PollOptions {
  /**
   * Wait until at least one result is there, rather than return at once.
   *
   * @default {false}
   */
  block?: boolean;
}

/** How a call may end early: shared by `run()`, `map()` and `WorkRequest`. */
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
}

/** Options for `ThreadPool.run()`. */
export interface RunOptions extends CancelOptions {
  /**
   * Objects in the arguments to transfer, not copy, to the worker.
   *
   * @default {[]}
   */
  transfer?: Transferable[];
}

/** Options for `ThreadPool.map()`. */
export interface MapOptions extends CancelOptions {
  /**
   * Yield results in input order; `false` yields them as they finish.
   *
   * @default {true}
   */
  ordered?: boolean;
  /**
   * Inputs sent to a worker in one message and run there one after another.
   * A `timeout` then applies to the whole chunk.
   *
   * @default {1}
   */
  chunkSize?: number;
}

/** Options for `ThreadPool.close()`. */
export interface CloseOptions {
  /**
   * Fail every pending request with `PoolClosedError` and stop the
   * workers now, rather than let queued and running work finish.
   *
   * @default {false}
   */
  force?: boolean;
}

/**
 * Checks a count: a non-negative integer.
 *
 * @throws {RangeError} Naming what could not be done, the option and the value.
 */
export function nonNegativeInteger(action: string, name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) {
    throw new RangeError(
      `Cannot ${action} as '${name}' must be a non-negative integer: current value is ${value}`,
    );
  }
  return value;
}

/**
 * Checks the cancellation options of a call and returns them as job limits.
 *
 * @throws {TypeError} When `signal` is not an AbortSignal.
 * @throws {RangeError} When `timeout` is negative or not a number.
 */
export function cancelLimits(
  action: string,
  options: { signal?: AbortSignal | undefined; timeout?: number | undefined },
): { signal: AbortSignal | undefined; timeout: number | undefined } {
  const { signal, timeout } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(`Cannot ${action} as 'signal' must be an AbortSignal`);
  }
  if (timeout !== undefined) milliseconds(action, "timeout", timeout);
  return { signal, timeout };
}

/**
 * Checks a duration in milliseconds: a non-negative number, `Infinity` allowed.
 *
 * @throws {RangeError} Naming the option and the value.
 */
export function milliseconds(action: string, name: string, value: number): number {
  if (typeof value !== "number" || Number.isNaN(value) || value < 0) {
    throw new RangeError(
      `Cannot ${action} as '${name}' must be a non-negative number of milliseconds: current value is ${value}`,
    );
  }
  return value;
}
