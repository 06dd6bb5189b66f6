/**
 * Main thread, the front's work queue under rate limits: which queued job
 * may start now, with the jobs of a key that must wait set aside so that
 * those behind them go on, and the engine woken when a limit lets the next
 * one start.
 *
 * @module
 */

import { Deque } from "./deque.ts";
import { type Job, policyOf, QUEUED } from "./job.ts";
import type { Limiter } from "./rate_limit.ts";
import type { PriorityQueues } from "./priority_queues.ts";

/** Takes jobs out of a work queue's queues as its rate limits allow (see `Limiter`). */
export class RateGate {
  readonly #limiter: Limiter;
  /** Wakes the engine to take again. */
  readonly #wake: () => void;
  /** Hands a job that may start to the engine. */
  readonly #taken: (job: Job, now: number) => Job;
  /** For each rate key, queued jobs taken out to wait for its limit, oldest first. */
  readonly #held = new Map<string, Deque<Job>>();
  /** The timer that wakes the engine when a limit lets the next job start, and when it fires. */
  #timer: ReturnType<typeof setTimeout> | undefined = undefined;
  #due = Infinity;

  constructor(limiter: Limiter, wake: () => void, taken: (job: Job, now: number) => Job) {
    this.#limiter = limiter;
    this.#wake = wake;
    this.#taken = taken;
  }

  /**
   * The next job that may start now: first of the keys set aside whose
   * limit now allows, then from `queues`, where a job whose key must wait
   * (or has jobs set aside already) is set aside too. Undefined when none
   * may: the engine is woken when one may.
   */
  take(queues: PriorityQueues, now: number): Job | undefined {
    const limiter = this.#limiter;
    const own = limiter.has("");
    let soonest = own ? limiter.wait("", now) : 0;
    if (soonest > 0) return this.#wakeIn(soonest);
    soonest = Infinity;
    for (const [key, jobs] of this.#held) {
      const wait = limiter.wait(key, now);
      if (wait > 0) {
        soonest = Math.min(soonest, wait);
        continue;
      }
      let job = jobs.shift();
      while (job !== undefined && job.state !== QUEUED) job = jobs.shift();
      if (jobs.length === 0) this.#held.delete(key);
      if (job !== undefined) return this.#sent(job, now);
    }
    for (let job = queues.next(); job !== undefined; job = queues.next()) {
      if (job.state !== QUEUED) continue;
      if (job.sink.mayStart !== undefined && !job.sink.mayStart()) {
        queues.unshift(job);
        return undefined;
      }
      const key = job.policy?.rateKey;
      if (key !== undefined) {
        const wait = limiter.wait(key, now);
        const held = this.#held.get(key);
        if (wait > 0 || held !== undefined) {
          if (held === undefined) {
            const jobs = new Deque<Job>();
            jobs.push(job);
            this.#held.set(key, jobs);
          } else {
            held.push(job);
          }
          soonest = Math.min(soonest, wait);
          continue;
        }
      }
      return own || key !== undefined ? this.#sent(job, now) : this.#taken(job, now);
    }
    return this.#wakeIn(soonest);
  }

  /**
   * The job sent under a rate limit started `at` (performance.now()), or by
   * then: the limits count that, and wait for it no more.
   */
  started(job: Job, at: number): void {
    const policy = job.policy!;
    policy.limited = false;
    this.#limiter.confirm("", job, at);
    if (policy.rateKey !== undefined) this.#limiter.confirm(policy.rateKey, job, at);
  }

  /** Hands every job set aside to `each`, and wakes the engine no more. */
  release(each: (job: Job) => void): void {
    for (const [key, jobs] of this.#held) {
      this.#held.delete(key);
      for (let job = jobs.shift(); job !== undefined; job = jobs.shift()) each(job);
    }
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#due = Infinity;
  }

  /** `job` goes under a rate limit: its start counts now, and again when its thread confirms it. */
  #sent(job: Job, now: number): Job {
    const policy = policyOf(job);
    policy.limited = true;
    this.#limiter.start("", now, job);
    if (policy.rateKey !== undefined) this.#limiter.start(policy.rateKey, now, job);
    return this.#taken(job, now);
  }

  /** Wakes the engine in `ms` (if no sooner wake is due). */
  #wakeIn(ms: number): undefined {
    if (ms === Infinity) return;
    const due = performance.now() + ms;
    if (due >= this.#due) return;
    clearTimeout(this.#timer);
    this.#due = due;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#due = Infinity;
      this.#wake();
    }, ms);
  }
}
