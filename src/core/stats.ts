/**
 * Main thread, shared: what `ThreadPool.stats()` reports, and the bounded window of timings it
 * computes percentiles from.
 *
 * @module
 */

/**
 * Percentiles of a timing, in milliseconds, over the last requests.
 *
 * @example Run-time percentiles
 * ```ts
 * import { type Percentiles, ThreadPool } from "@scope/threadpool";
 * import { equal, ok } from "node:assert/strict";
 *
 * const source = "export function add(a, b) { return a + b; }";
 * const module = `data:text/javascript,${encodeURIComponent(source)}`;
 *
 * const add = { module, name: "add" };
 * await using pool = new ThreadPool(1);
 * await pool.run(add, [1, 2]);
 * const runTime: Percentiles = pool.stats().runTime;
 * equal(runTime.count, 1);
 * ok(runTime.p50 <= runTime.max);
 * ```
 */
export interface Percentiles {
  /** Half the requests took this long or less. */
  p50: number;
  /** 90 % of the requests took this long or less. */
  p90: number;
  /** 99 % of the requests took this long or less. */
  p99: number;
  /** The longest. */
  max: number;
  /** How many requests the figures cover (at most the window, 1,024). */
  count: number;
}

/**
 * A snapshot of the pool.
 *
 * @example Counting outcomes
 * ```ts
 * import { ThreadPool, type ThreadPoolStats } from "@scope/threadpool";
 * import { equal } from "node:assert/strict";
 *
 * const source = "export function add(a, b) { return a + b; }";
 * const module = `data:text/javascript,${encodeURIComponent(source)}`;
 *
 * const add = { module, name: "add" };
 * await using pool = new ThreadPool(1);
 * await pool.run(add, [1, 2]);
 * const stats: ThreadPoolStats = pool.stats();
 * equal(stats.completed, 1);
 * equal(stats.failed, 0);
 * ```
 */
export interface ThreadPoolStats {
  /** Requests waiting to start, as `pool.queued`. */
  queued: number;
  /** Requests running on a worker now. */
  running: number;
  /** Requests that ended with their result, since the pool was created. */
  completed: number;
  /** Requests that ended with an error (task error, lost worker, closed pool, bad arguments). */
  failed: number;
  /** Requests cancelled by their signal, or dropped by a `map()` left early. */
  cancelled: number;
  /** Requests that ran past their timeout. */
  timedOut: number;
  /** Attempts made again under a request's `retry` policy (not counted in the outcomes above). */
  retried: number;
  /** The workers. */
  workers: {
    /** Live workers, as `pool.size`. */
    live: number;
    /** Dismissed workers not yet joined. */
    dismissed: number;
    /** Threads that died and were replaced. */
    lost: number;
    /** Threads terminated while a task still ran on them. */
    abandoned: number;
    /** Threads replaced fresh: after `maxTasksPerWorker` tasks, or to grant a new task module. */
    recycled: number;
  };
  /** From a request's acceptance until it was sent to a worker. */
  waitTime: Percentiles;
  /** From being sent to a worker until the request ended. */
  runTime: Percentiles;
  /** For each live worker: the share of its life it has spent with work, 0 to 1. */
  utilisation: number[];
}

const WINDOW = 1024;

/** The last `WINDOW` timings of one kind, in a ring. */
export class TimingWindow {
  readonly #values = new Float64Array(WINDOW);
  #count = 0;

  /** Records one timing. */
  add(ms: number): void {
    this.#values[this.#count++ % WINDOW] = ms;
  }

  /** The percentiles of what the window holds. */
  percentiles(): Percentiles {
    const count = Math.min(this.#count, WINDOW);
    if (count === 0) return { p50: 0, p90: 0, p99: 0, max: 0, count: 0 };
    const sorted = this.#values.slice(0, count).sort();
    const at = (q: number) => sorted[Math.min(count - 1, Math.ceil(q * count) - 1)]!;
    return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[count - 1]!, count };
  }
}
