/**
 * Main thread, a cluster node: how many jobs it holds, and the turns they
 * take on its local pool.
 *
 * @module
 */

import { typicalAfter } from "./protocol.ts";

/**
 * The most jobs a node holds per task its pool runs at once: the rest wait in
 * the node, so that a worker never idles while the node asks Redis for the
 * next job (each ask is a round trip). A node that dies loses its lease on
 * all of them, and they run elsewhere.
 */
const NODE_PREFETCH = 16;

/** The most a node's `prefetch` option may ask for. */
export const MAX_PREFETCH = 1000;

/**
 * Milliseconds of work a node holds ahead of each task it runs: about what
 * fetching the next job takes. Short jobs are held many at a time; long ones
 * one ahead, so that the jobs in the queue go to idle nodes, not to the node
 * that happened to fetch first.
 */
const AHEAD_MS = 2;

/** How often (ms) BullMQ may be told to fetch fewer jobs for the node ({@linkcode Turns.fetching}). */
const SETTLE_MS = 1_000;

/** A task this long (ms) makes BullMQ fetch fewer jobs for the node at once. */
const LONG_MS = 10 * AHEAD_MS;

/** How many tasks' typical durations a node keeps. */
const MAX_TASKS_KNOWN = 1000;

/**
 * A job's turn on the local pool. The first of the turns taken, as many as
 * the pool runs at once, are running; the others wait in the pool's queue
 * behind them, and a job's time on the pool counts from when its turn runs.
 */
export interface Turn {
  /** When the pool could start the job (on the node's clock); NaN while it waits. */
  start: number;
  /** Called when the pool can start the job. */
  began: (() => void) | undefined;
}

/** How a job takes its turn ({@linkcode Turns.take}). */
export interface TurnOptions {
  /** Called when the pool can start the job. */
  began?: () => void;
  /**
   * Kept however many jobs the node holds: a job that waited for its rate
   * limit, and has its turn under it.
   */
  keep?: boolean;
  /** Its priority, a request's: a higher one added to the queue may have it handed back. */
  priority?: number;
  /**
   * A job of many calls (a chunk, a batch): it may wait in the pool's queue
   * behind the one running, whatever its task's duration, so that the
   * pool's workers do not wait between such jobs.
   */
  bulk?: boolean;
}

/** A job waiting in the node for its turn. */
interface Waiting {
  go: (turn: Turn | null) => void;
  began: (() => void) | undefined;
  task: string;
  /** A job of many calls (see {@linkcode TurnOptions.bulk}). */
  bulk: boolean;
  /** Its priority: higher first (a request's, not BullMQ's). */
  priority: number;
}

/**
 * Turns on the local pool: a job takes one before it runs there, and gives it
 * back when it ends. There is one per task the pool runs at once, and for
 * short tasks and bulk jobs one more, waiting in the pool's queue; other
 * jobs the node holds wait here, and one of them goes back to the queue when
 * a job of higher priority is added to it. Once the node closes, the jobs
 * still waiting for one are told so, and go back to the queue unstarted; so
 * does a job beyond what the node should hold.
 */
export class Turns {
  /** How many tasks the pool runs at once. */
  readonly #capacity: () => number;
  /** Jobs waiting here for a turn, oldest first. */
  readonly #waiting: Waiting[] = [];
  /** The turns taken, oldest first: the first `#capacity()` of them are running. */
  readonly #taken: Turn[] = [];
  #closed = false;
  /** A typical job's milliseconds on the pool (`typicalAfter`): what `held()` follows. */
  #typical = Infinity;
  /** The same, for each task by name and module. */
  readonly #byTask = new Map<string, number>();
  /** Jobs held per task the pool runs at once, when the node's options fix it. */
  readonly #prefetch: number | undefined;
  readonly #clock: () => number;
  /** What {@linkcode fetching} returns; the most it wanted since `#since`. */
  #fetching = 0;
  #peak = 0;
  #since = -Infinity;

  constructor(
    capacity: () => number,
    prefetch: number | undefined,
    clock: () => number = () => performance.now(),
  ) {
    this.#capacity = capacity;
    this.#prefetch = prefetch;
    this.#clock = clock;
  }

  /**
   * Resolves with a turn for a job of `task`, or `null` when the node closes
   * first, or holds as many as {@linkcode held} already and `task` is not
   * known to be short (a job not to keep: an idle node may run it sooner).
   * A short one is kept: handing it back and fetching it again would cost
   * Redis more than it waits here. See {@linkcode TurnOptions} for the rest.
   */
  take(task: string, options: TurnOptions = {}): Turn | null | Promise<Turn | null> {
    if (this.#closed) return null;
    const { began, keep = false, priority = 0, bulk = false } = options;
    const over = !keep && this.#taken.length + this.#waiting.length >= this.fetching();
    if (over && (this.#byTask.get(task) ?? Infinity) >= AHEAD_MS) return null;
    if (this.#waiting.length === 0 && this.#taken.length < this.#room(task, bulk)) {
      return this.#give(began);
    }
    return new Promise((go) => this.#waiting.push({ go, began, task, bulk, priority }));
  }

  /**
   * How many turns may be taken at once for a job of `task`: for a short
   * one, one more per task the pool runs at once, waiting in the pool's queue
   * so that a worker never waits for the node; for any other, only those
   * the pool runs, so that the jobs held ahead wait here, where a job of
   * higher priority can have them handed back ({@linkcode yieldTo}). A bulk
   * job is as a short one.
   */
  #room(task: string, bulk: boolean): number {
    const short = bulk || (this.#byTask.get(task) ?? Infinity) < LONG_MS;
    return this.#capacity() * (short ? 2 : 1);
  }

  /**
   * A job of `priority` was added to the queue: up to `count` jobs waiting
   * here of a lower one (the lowest first, the newest first among equals)
   * are handed back (their `take` resolves with `null`), so that the node
   * takes the higher one instead. Returns how many.
   */
  yieldTo(priority: number, count: number): number {
    let handed = 0;
    while (handed < count) {
      let lowest = -1;
      for (let i = 0; i < this.#waiting.length; i++) {
        const each = this.#waiting[i]!.priority;
        if (each < priority && (lowest === -1 || each <= this.#waiting[lowest]!.priority)) {
          lowest = i;
        }
      }
      if (lowest === -1) break;
      this.#waiting.splice(lowest, 1)[0]!.go(null);
      handed++;
    }
    return handed;
  }

  #give(began: (() => void) | undefined): Turn {
    const turn = { start: NaN, began };
    this.#taken.push(turn);
    this.#run();
    return turn;
  }

  /** Every turn among the first `#capacity()` has its start. */
  #run(): void {
    const now = this.#clock();
    const running = Math.min(this.#capacity(), this.#taken.length);
    for (let i = 0; i < running; i++) {
      const turn = this.#taken[i]!;
      if (Number.isNaN(turn.start)) {
        turn.start = now;
        turn.began?.();
      }
    }
  }

  /** How many jobs the pool is running now. */
  get running(): number {
    return Math.min(this.#capacity(), this.#taken.length);
  }

  /**
   * A job of `task` has come: if that task is longer than what the node has
   * been running (or not known yet), the node holds fewer at once from now,
   * before it takes more of them.
   */
  arrived(task: string): void {
    this.#typical = Math.max(this.#typical, this.#byTask.get(task) ?? Infinity);
  }

  /**
   * A job of `task`, of `calls` calls, ends: gives its turn back, and returns
   * how long one of its calls typically ran (ms), from when the pool could
   * start the job, its calls spread over as many workers as they could use.
   */
  release(turn: Turn, task: string, calls: number): number {
    const now = this.#clock();
    const ms = now - (Number.isNaN(turn.start) ? now : turn.start);
    this.#typical = typicalAfter(this.#typical, ms);
    // Task names come from clients: the node forgets them all rather than grow without bound.
    if (this.#byTask.size >= MAX_TASKS_KNOWN && !this.#byTask.has(task)) this.#byTask.clear();
    this.#byTask.set(task, typicalAfter(this.#byTask.get(task) ?? Infinity, ms));
    this.#taken.splice(this.#taken.indexOf(turn), 1);
    let next = this.#waiting[0];
    while (next !== undefined && this.#taken.length < this.#room(next.task, next.bulk)) {
      this.#waiting.shift();
      next.go(this.#give(next.began));
      next = this.#waiting[0];
    }
    this.#run();
    return ms * Math.min(this.#capacity(), calls) / calls;
  }

  /**
   * How many jobs the node should hold: what runs, and {@linkcode AHEAD_MS} of
   * work ahead of each (at least one job, at most {@linkcode NODE_PREFETCH} in all).
   * Until a job has ended, one ahead. A node's `prefetch` option fixes it instead.
   */
  held(): number {
    if (this.#prefetch !== undefined) return this.#capacity() * this.#prefetch;
    const ahead = Math.ceil(AHEAD_MS / this.#typical);
    return this.#capacity() * Math.min(NODE_PREFETCH, 1 + Math.max(1, ahead));
  }

  /**
   * How many jobs BullMQ may hold for the node: {@linkcode held}, steadied.
   * BullMQ fetches the next job with a job's completion only while it holds
   * no more than this; each time this rises, it fetches on its own, with a
   * second script per job. A short task's times vary (a slow one now and
   * then), and {@linkcode held} with them: so this rises at once, but falls
   * at most once per {@linkcode SETTLE_MS}, to the most {@linkcode held} asked
   * for over that time; at once for a long task, not to be held ahead.
   */
  fetching(): number {
    const want = this.held();
    const now = this.#clock();
    if (this.#typical >= LONG_MS) {
      this.#fetching = this.#peak = want;
      this.#since = now;
    } else {
      this.#peak = Math.max(this.#peak, want);
      this.#fetching = Math.max(this.#fetching, want);
      if (now - this.#since >= SETTLE_MS) {
        this.#fetching = this.#peak;
        this.#peak = want;
        this.#since = now;
      }
    }
    return this.#fetching;
  }

  /** Every job still waiting is handed back, and so is any that comes later. */
  handBack(): void {
    this.#closed = true;
    for (const { go } of this.#waiting.splice(0)) go(null);
  }
}
