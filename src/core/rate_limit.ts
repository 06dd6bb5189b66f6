/**
 * Main thread, shared by the front and the cluster's nodes: rate limits.
 * A limit of `max` starts per `per` ms spaces starts evenly, `per / max` ms
 * apart (one may come a little early, by the {@linkcode slack}, so that
 * starts a late timer held back catch up), and lets no start come less than
 * a window and the slack after the `max`-th before it: no window of `per`
 * ms holds more than `max` starts, and none comes in a burst at a window's
 * start.
 *
 * @module
 */

/** A rate limit: at most `max` task starts in any window of `per` ms. */
export interface RateLimit {
  /** Task starts allowed in any window of `per` ms. */
  readonly max: number;
  /** The window, in milliseconds. */
  readonly per: number;
}

/**
 * Milliseconds added to each window before its `max`-th next start may come:
 * what reaches a worker (a message, a node's timer) arrives a little early
 * or late, and a start a moment early would put one too many in some
 * window. 5% of the window, at most 10 ms: it costs that share of the rate,
 * once per window, not once per start.
 */
export function slack(limit: RateLimit): number {
  return Math.min(10, limit.per * 0.05);
}

/** Milliseconds between two starts under `limit`: the window shared evenly. */
export function spacing(limit: RateLimit): number {
  return limit.per / limit.max;
}

/** The last `max` starts under one limit, in a ring: when, and whose is not yet confirmed. */
interface Starts {
  readonly times: Float64Array;
  /** For each start, who made it while it waits to be confirmed; null once confirmed. */
  readonly pending: (object | null)[];
  /** Where each start waiting to be confirmed is in the ring. */
  readonly slots: Map<object, number>;
  /** The next place in the ring: the oldest start. */
  at: number;
  /** When the next start is due, evenly spaced from the ones before. */
  due: number;
}

/**
 * When the next start is allowed under each of a set of limits, kept on
 * this thread: spaced evenly, and never the `max`-th after one less than a
 * window (and its slack) after it. A start is recorded when it is sent, and
 * confirmed when it is known to have happened (as its thread timed it): the
 * `max`-th after one not yet confirmed waits for its confirmation.
 */
export class Limiter {
  readonly #limits: ReadonlyMap<string, RateLimit>;
  readonly #starts = new Map<string, Starts>();

  /** `limits`: by key; the pool's own limit is under "" (and applies to every request). */
  constructor(limits: ReadonlyMap<string, RateLimit>) {
    this.#limits = limits;
  }

  /** Whether there is a limit of `key` ("": the pool's own). */
  has(key: string): boolean {
    return this.#limits.has(key);
  }

  /**
   * Milliseconds until the limit of `key` lets a start come; 0: now (or no
   * such limit); Infinity: not before a start is confirmed.
   */
  wait(key: string, now: number): number {
    const limit = this.#limits.get(key);
    const starts = this.#starts.get(key);
    if (limit === undefined || starts === undefined) return 0;
    const { times, at } = starts;
    if (starts.pending[at] !== null) return Infinity;
    // Evenly spaced, a little early allowed (a timer fires late, and starts then catch up);
    // and the oldest of the last `max` starts: the window it opened must be over.
    const next = Math.max(starts.due - slack(limit), times[at]! + limit.per + slack(limit));
    return Math.max(0, next - now);
  }

  /** `by` starts now under the limit of `key`, to be confirmed. */
  start(key: string, now: number, by: object): void {
    const limit = this.#limits.get(key);
    if (limit === undefined) return;
    let starts = this.#starts.get(key);
    if (starts === undefined) {
      const times = new Float64Array(limit.max).fill(-Infinity);
      const pending = new Array(limit.max).fill(null);
      starts = { times, pending, slots: new Map(), at: 0, due: -Infinity };
      this.#starts.set(key, starts);
    }
    starts.due = Math.max(starts.due, now) + spacing(limit);
    starts.times[starts.at] = now;
    starts.pending[starts.at] = by;
    starts.slots.set(by, starts.at);
    starts.at = (starts.at + 1) % starts.times.length;
  }

  /** The start of `by` under the limit of `key` happened `at` (if not confirmed already). */
  confirm(key: string, by: object, at: number): void {
    const starts = this.#starts.get(key);
    const slot = starts?.slots.get(by);
    if (starts === undefined || slot === undefined) return;
    starts.slots.delete(by);
    starts.pending[slot] = null;
    starts.times[slot] = at;
  }
}
