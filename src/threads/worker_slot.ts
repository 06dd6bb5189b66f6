/**
 * Main thread, the Web Worker engine: one worker of the pool as the pool counts it. Its thread may come and go:
 * it is stopped when idle (an idle Web Worker would keep the process alive,
 * and Deno has no `unref()` for one: denoland/deno#14318), replaced when it
 * dies, and started again when there is work.
 *
 * @module
 */

import {
  CANCEL_SLOTS,
  CANCELS,
  CHUNK,
  COUNTERS,
  DISMISSED,
  type FromWorker,
  NOTIFY,
  POSTED,
  PROGRESS,
  PROGRESS_HANDLED,
  REPORT_STARTS,
  RUNNING,
  SERVICE_TIME,
  SERVICE_TIME_UNITS,
  STARTED,
  STEALS,
  STREAM,
  type ToWorker,
  VOID,
  type WireDef,
  type WireTask,
} from "../wire/protocol.ts";
import { LanePort } from "./lane_port.ts";
import { type HeldResult, HeldResults } from "../wire/held_results.ts";
import type { Job } from "../core/job.ts";
import type { ResolvedTask } from "../core/task.ts";
import { sandboxedWorkerURL, workerURL } from "./worker_scripts.ts";
/**
 * Why a worker's thread stopped.
 *
 * @example Counting why threads stopped
 * ```ts
 * import { ThreadPool, type WorkerExitDetail, type WorkerExitReason } from "@scope/threadpool";
 * import { ok } from "node:assert/strict";
 *
 * const reasons: WorkerExitReason[] = [];
 * const pool = new ThreadPool(1);
 * pool.addEventListener("workerexit", (event) => {
 *   reasons.push((event as CustomEvent<WorkerExitDetail>).detail.reason);
 * });
 * await pool.close();
 * ok(reasons.every((reason) => reason === "closed"));
 * ```
 */
export type WorkerExitReason = "idle" | "dismissed" | "recycled" | "lost" | "abandoned" | "closed";

/** What a slot's threads are started with. */
export interface ThreadSettings {
  concurrency: number;
  /** The threads' name, for stack traces and inspectors. */
  name: string;
  /** The threads' own permissions; undefined: this thread's. */
  permissions: Deno.PermissionOptionsObject | undefined;
  /** Run on each thread before its first task; null: none. */
  initializer: { task: ResolvedTask; args: readonly unknown[] } | null;
  /** Whether small tasks travel by the shared-memory lane. */
  lane: boolean;
}

/** What a slot reports to its pool. */
export interface SlotHost {
  /** A message from the slot's current thread. */
  onMessage(slot: WorkerSlot, message: FromWorker): void;
  /** The slot's current thread died; `how` says how, `error` what it threw. */
  onLost(slot: WorkerSlot, how: string, error?: Error): void;
  /** Results came by the current thread's lane. */
  onLaneResults(slot: WorkerSlot): void;
}

/** One of the pool's workers. */
export class WorkerSlot {
  /** A number unique in the pool, for messages and worker names. */
  readonly id: number;
  /** The running thread, or null while the worker is idle and stopped. */
  thread: Worker | null = null;
  /** The version of the pool's grant the current thread was started with. */
  grantVersion = 0;
  /** Whether the current thread has loaded and said so. */
  ready = false;
  /** Tasks sent to the current thread so far: the next task's sequence number. */
  sent = 0;
  /** The current thread's function table: task key → index. */
  readonly fns: Map<string, number> = new Map();
  /** Tasks sent and not settled, by id, in the order they were sent. */
  readonly inflight: Map<number, Job> = new Map();
  /**
   * Tasks the thread has not answered for although the pool is done with
   * them (cancelled, timed out, or stolen back), by sequence number, each
   * with the timer that abandons the thread if a running one does not stop
   * in time. They hold capacity until the thread answers.
   */
  readonly zombies: Map<number, ReturnType<typeof setTimeout> | undefined> = new Map();
  /** Set once the pool has dismissed this worker. */
  dismissed = false;
  /**
   * Set once the pool has given up on the thread: a cancelled task on it did
   * not stop in time. It starts nothing more, and is stopped once the tasks
   * beside that one have ended.
   */
  condemned = false;
  /** While condemned with tasks still running: the timer of the check that it still answers. */
  probeTimer: ReturnType<typeof setTimeout> | undefined;
  /** Checks in a row that found the thread silent and busy with no task still wanted. */
  strikes = 0;
  /** Results received from the current thread, to compare with those it posted. */
  received = 0;
  /** Gives up on the current thread if its initializer takes too long. */
  initTimer: ReturnType<typeof setTimeout> | undefined;
  /** Resolves when a dismissed worker's thread is gone. */
  readonly exited: PromiseWithResolvers<void> = Promise.withResolvers();
  readonly #createdAt: number = performance.now();
  #busyTotal = 0;
  #busyFrom = -1; // when the current busy spell began; -1: idle
  /** When the worker last became idle, and its idle timer, if armed. */
  idleSince = 0;
  idleTimer: ReturnType<typeof setTimeout> | undefined;
  #counters: Int32Array<SharedArrayBuffer> | null = null;
  #held: HeldResults | null = null;
  /** The current thread's shared-memory lane, if the pool uses one. */
  lane: LanePort | null = null;

  /** Creates a slot; its thread starts with {@linkcode WorkerSlot.start}. */
  constructor(id: number) {
    this.id = id;
  }

  /**
   * Starts a new thread for this slot, with its own permissions if given.
   *
   * @throws {Deno.errors.NotCapable} When the permissions exceed this thread's.
   */
  start(host: SlotHost, settings: ThreadSettings): void {
    const { concurrency, name, permissions, initializer, lane } = settings;
    const options: WorkerOptions = { type: "module", name: `${name} #${this.id}` };
    // Only with permissions: the option needs --unstable-worker-options.
    if (permissions !== undefined) Object.assign(options, { deno: { permissions } });
    const thread = new Worker(permissions === undefined ? workerURL : sandboxedWorkerURL, options);
    const shared = new SharedArrayBuffer(COUNTERS * Int32Array.BYTES_PER_ELEMENT);
    this.thread = thread;
    this.#counters = new Int32Array(shared);
    this.#held = new HeldResults();
    this.ready = false;
    this.sent = 0;
    this.received = 0;
    this.fns.clear();
    thread.onmessage = (event: MessageEvent<FromWorker>) => {
      if (this.thread === thread) host.onMessage(this, event.data);
    };
    thread.onerror = (event) => {
      // Without preventDefault an error in a worker ends the whole process.
      event.preventDefault();
      if (this.thread === thread) host.onLost(this, `it had an uncaught error: ${event.message}`);
    };
    thread.onmessageerror = () => {
      // A message that cannot be deserialised stops delivery from the worker.
      if (this.thread === thread) host.onLost(this, "a message from it could not be read");
    };
    const init: ToWorker = { t: "init", counters: shared, held: this.#held.buffer, concurrency };
    if (lane) {
      const port = new LanePort();
      this.lane = port;
      init.lane = port.buffer;
      port.listen(() => {
        if (this.thread === thread) host.onLaneResults(this);
      });
    }
    if (initializer !== null) {
      const { task, args } = initializer;
      init.initializer = [task.href, task.name, args as unknown[]];
    }
    this.post(init);
  }

  /** Sends a message to the current thread. */
  post(message: ToWorker, transfer: Transferable[] = []): void {
    this.thread!.postMessage(message, transfer);
  }

  /**
   * Sends jobs in one `run` message, with the function table entries the
   * thread does not have yet. If it throws (an argument cannot be cloned),
   * nothing was sent and the table is as it was.
   */
  sendTasks(jobs: readonly Job[]): void {
    const defs: WireDef[] = [];
    const added: string[] = [];
    const tasks: WireTask[] = [];
    const transfer: Transferable[] = [];
    try {
      for (const job of jobs) {
        const { key, href, name } = job.task;
        let fn = this.fns.get(key);
        if (fn === undefined) {
          fn = this.fns.size;
          this.fns.set(key, fn);
          defs.push([fn, href, name]);
          added.push(key);
        }
        const { id, stream } = job;
        const wire: WireTask = [id, fn, job.args as unknown[], flagsOf(job), job.seq];
        // A stream starts with the room its reader has; more comes by `pull` messages.
        if (stream !== undefined) {
          wire[5] = stream.open((n) => {
            if (this.thread !== null && this.inflight.has(id)) this.post({ t: "pull", id, n });
          });
        }
        tasks.push(wire);
        for (const item of job.transfer) transfer.push(item);
      }
      this.post(defs.length > 0 ? { t: "run", defs, tasks } : { t: "run", tasks }, transfer);
    } catch (error) {
      // Whatever failed, the thread got none of it: its function table is as it was.
      for (const key of added) this.fns.delete(key);
      throw error;
    }
  }

  /**
   * Sends a job by the lane, if the thread has one, already has its function,
   * and the job's arguments encode exactly there; says whether it did.
   */
  sendByLane(job: Job): boolean {
    if (this.lane === null || job.transfer.length > 0 || job.stream !== undefined) return false;
    const fn = this.fns.get(job.task.key);
    return fn !== undefined &&
      this.lane.send(job.id, job.seq, fn, flagsOf(job), job.args);
  }

  /** After a round of lane sends: rings the thread's doorbell if it waits for them. */
  flushLane(): void {
    if (this.lane?.flush()) this.post({ t: "lane" });
  }

  /** Holds sequence number `seq`, whose task could not be sent, so the thread's order goes on. */
  sendVoid(seq: number): void {
    this.post({ t: "run", tasks: [[VOID, VOID, [], 0, seq]] });
  }

  /** How many tasks the current thread has started. */
  started(): number {
    return this.#counters === null ? 0 : Atomics.load(this.#counters, STARTED);
  }

  /**
   * Tasks handed to the thread that it has not begun and still will: those
   * not yet taken, less those cancelled before they started (which the
   * thread is sure to skip).
   */
  handedAhead(): number {
    const started = this.started();
    let ahead = this.sent - started;
    for (const seq of this.zombies.keys()) if (seq >= started) ahead--;
    return ahead;
  }

  /** The worker got work after having none. */
  beginBusy(now: number): void {
    if (this.#busyFrom < 0) this.#busyFrom = now;
  }

  /** The worker has no work left, or its thread stopped. */
  endBusy(): void {
    if (this.#busyFrom < 0) return;
    this.#busyTotal += performance.now() - this.#busyFrom;
    this.#busyFrom = -1;
  }

  /** The share of the slot's life spent with work, up to `now`. */
  utilisation(now: number): number {
    const busy = this.#busyTotal + (this.#busyFrom >= 0 ? now - this.#busyFrom : 0);
    return Math.min(1, busy / Math.max(now - this.#createdAt, 1e-9));
  }

  /**
   * Milliseconds the worker is busy per task, smoothed, as its thread
   * measures it; 0 until measured.
   */
  get serviceTime(): number {
    return this.#counters === null
      ? 0
      : Atomics.load(this.#counters, SERVICE_TIME) / SERVICE_TIME_UNITS;
  }

  /** Tasks the thread holds: sent and unsettled, or cancelled and unanswered. */
  get load(): number {
    return this.inflight.size + this.zombies.size;
  }

  /**
   * Flags the task with sequence number `seq` cancelled in shared memory;
   * returns whether the thread had already started it. The flag is written
   * before the count is read, and the thread counts a task before it reads
   * the flag: so either it skips the task, or this returns true.
   */
  cancel(seq: number): boolean {
    if (this.#counters === null) return false;
    Atomics.store(this.#counters, CANCELS + seq % CANCEL_SLOTS, seq + 1);
    return seq < Atomics.load(this.#counters, STARTED);
  }

  /**
   * Takes back the task with sequence number `seq` if the thread has not
   * begun it, and says whether it did. When it says yes, the thread is sure to
   * skip the task. When it says no, the thread may still skip it (its check of
   * the flag can follow this write): the pool then hears of a skipped task it
   * still holds, and queues it again.
   */
  steal(seq: number): boolean {
    if (this.#counters === null) return false;
    Atomics.store(this.#counters, STEALS + seq % CANCEL_SLOTS, seq + 1);
    return seq >= Atomics.load(this.#counters, STARTED);
  }

  /** Whether the cancelled task with sequence number `seq` has ended on the thread. */
  endedAfterCancel(seq: number): boolean {
    if (this.#counters === null) return false;
    return Atomics.load(this.#counters, CANCELS + seq % CANCEL_SLOTS) === -(seq + 1);
  }

  /** The sequence number of the task whose synchronous part the thread runs now, or -1. */
  runningSeq(): number {
    return this.#counters === null ? -1 : Atomics.load(this.#counters, RUNNING) - 1;
  }

  /** Whether every result the thread has posted has been received. */
  allReceived(): boolean {
    return this.#counters === null || Atomics.load(this.#counters, POSTED) <= this.received;
  }

  /** The finished results the thread holds back, by sequence number. */
  heldResults(): Map<number, HeldResult> {
    return this.#held?.read() ?? new Map();
  }

  /** A progress report from the thread has been handed on: the thread may send the next. */
  progressHandled(): void {
    if (this.#counters !== null) Atomics.add(this.#counters, PROGRESS_HANDLED, 1);
  }

  /** Asks the thread to report each start (while the pool waits for room). */
  reportStarts(on: boolean): void {
    if (this.#counters !== null) Atomics.store(this.#counters, REPORT_STARTS, on ? 1 : 0);
  }

  /** Marks the slot dismissed; its thread starts no task from now on. */
  dismiss(): void {
    this.dismissed = true;
    this.#handBack();
  }

  /** Gives up on the thread: it starts no task from now on. */
  condemn(): void {
    this.condemned = true;
    this.#handBack();
  }

  /** Tells the thread to start nothing more, and to hand back what it has not begun. */
  #handBack(): void {
    if (this.#counters === null) return;
    Atomics.store(this.#counters, DISMISSED, 1);
    this.post({ t: "dismiss" });
  }

  /**
   * Lets go of the current thread, if any, and terminates it, or with
   * `keep`, returns it still running (for its finalizer) for the caller to
   * terminate.
   */
  stop(keep = false): Worker | null {
    const thread = this.thread;
    this.endBusy();
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
    clearTimeout(this.initTimer);
    this.initTimer = undefined;
    this.strikes = 0;
    for (const timer of this.zombies.values()) clearTimeout(timer);
    this.zombies.clear();
    if (!keep) thread?.terminate();
    this.thread = null;
    this.lane?.close();
    this.lane = null;
    this.#counters = null;
    this.#held = null;
    this.ready = false;
    this.sent = 0;
    return keep ? thread : null;
  }
}

/** A job's flags as its thread reads them. */
function flagsOf(job: Job): number {
  const { policy } = job;
  const told = policy !== null && (policy.limited || policy.onStart !== undefined);
  return (job.chunk ? CHUNK : 0) | (job.timeout !== undefined || told ? NOTIFY : 0) |
    (job.progress !== undefined ? PROGRESS : 0) | (job.stream !== undefined ? STREAM : 0);
}
