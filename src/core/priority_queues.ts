/**
 * Main thread, the work queue's storage: one queue per priority, the
 * highest taken from first, each holding jobs and plain `run()` calls.
 *
 * @module
 */

import { Deque } from "./deque.ts";
import { Job } from "./job.ts";
import type { ResolvedTask } from "./task.ts";

/** How many plain calls share one reading of the clock in a queue. */
const CALLS_PER_STAMP = 64;

/** The queue of one priority. */
interface Level {
  readonly priority: number;
  readonly queue: Deque<unknown>;
  /** Plain calls queued since the last clock reading in this queue; -1 once that reading is stale. */
  stamped: number;
  /** When the plain calls now at the head of this queue were queued. */
  headAt: number;
}

function level(priority: number): Level {
  return { priority, queue: new Deque<unknown>(), stamped: -1, headAt: 0 };
}

/** Makes the job of a plain call as it comes out, queued at `at`. */
export type MakeJob = (
  task: ResolvedTask,
  args: readonly unknown[],
  resolve: unknown,
  at: number,
  priority: number,
) => Job;

/**
 * The queues of a work queue, by priority. A queue holds {@linkcode Job}s,
 * and plain `run()` calls as three entries each — the task, the arguments,
 * the promise's `resolve` — which become a `Job` only as they come out: a
 * queued call costs three slots, not an object of seventeen fields. A number
 * in a queue is when the plain calls after it were queued: one clock reading
 * for up to {@linkcode CALLS_PER_STAMP} of those made in one synchronous run.
 *
 * Priority 0's queue is the only one until a request of another priority
 * comes; then each priority has one, kept while it holds anything.
 */
export class PriorityQueues {
  /** Priority 0's queue. */
  readonly #zero = level(0);
  /** Every priority's queue, highest first (priority 0's among them); null while all are 0. */
  #levels: Level[] | null = null;
  readonly #make: MakeJob;
  readonly #staleStamp = (): void => {
    this.#zero.stamped = -1;
    for (const level of this.#levels ?? []) level.stamped = -1;
  };

  constructor(make: MakeJob) {
    this.#make = make;
  }

  /** Whether requests of a priority other than 0 have come. */
  get mixed(): boolean {
    return this.#levels !== null;
  }

  /** Queues a plain call at the tail of its priority's queue. */
  pushCall(
    priority: number,
    task: ResolvedTask,
    args: readonly unknown[],
    resolve: (value: unknown) => void,
  ): void {
    const level = this.#levelOf(priority);
    const { queue } = level;
    if (level.stamped === -1 || level.stamped === CALLS_PER_STAMP) {
      if (level.stamped === -1) queueMicrotask(this.#staleStamp);
      queue.push(performance.now());
      level.stamped = 0;
    }
    level.stamped++;
    queue.push(task);
    queue.push(args);
    queue.push(resolve);
  }

  /** Queues `job` at the tail of its priority's queue. */
  push(job: Job): void {
    this.#levelOf(job.priority).queue.push(job);
  }

  /** Puts `job` back at the head of its priority's queue. */
  unshift(job: Job): void {
    this.#levelOf(job.priority).queue.unshift(job);
  }

  /**
   * The job at the head of the highest priority's queue that holds any,
   * taken out (a plain call made a `Job`); one settled or dropped while
   * queued comes out too.
   */
  next(): Job | undefined {
    let next = this.#zero;
    const levels = this.#levels;
    if (levels !== null) {
      for (let i = 0; i < levels.length;) {
        next = levels[i]!;
        if (next.queue.length > 0) break;
        // An emptied priority's queue goes (0's stays): its next request makes it again.
        if (next.priority === 0) i++;
        else levels.splice(i, 1);
      }
    }
    const { queue } = next;
    let head = queue.shift();
    if (typeof head === "number") {
      next.headAt = head;
      head = queue.shift();
    }
    if (head === undefined || head instanceof Job) return head;
    const args = queue.shift() as unknown[];
    return this.#make(head as ResolvedTask, args, queue.shift(), next.headAt, next.priority);
  }

  /** The queue of `priority`, made if it is the first of that priority. */
  #levelOf(priority: number): Level {
    if (priority === 0) return this.#zero;
    const levels = this.#levels ??= [this.#zero];
    let at = 0;
    while (at < levels.length && levels[at]!.priority > priority) at++;
    if (at < levels.length && levels[at]!.priority === priority) return levels[at]!;
    const made = level(priority);
    levels.splice(at, 0, made);
    return made;
  }
}
