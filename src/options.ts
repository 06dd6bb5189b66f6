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

/** Options for `ThreadPool.run()`. */
export interface RunOptions {
  /**
   * Objects in the arguments to transfer, not copy, to the worker.
   *
   * @default {[]}
   */
  transfer?: Transferable[];
}

/** Options for `ThreadPool.map()`. */
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
