/**
 * The engine behind `ThreadPool`: the request queue, the workers, and the
 * one path by which every job reaches its final state. Not exported from the
 * package; `ThreadPool` checks input and calls in.
 *
 * @module
 */

import { Admission } from "../core/admission.ts";
import { Deque } from "../core/deque.ts";
import { fromWireError, type WireError } from "../wire/error_wire.ts";
import { type TaskError, TaskTimeoutError, WorkerLostError } from "../pool/errors.ts";
import { taskError } from "../pool/task_error.ts";
import {
  DROPPED,
  Job,
  type JobLimits,
  type JobOwner,
  NEW,
  QUEUED,
  SENT,
  SETTLED,
  type Sink,
} from "../core/job.ts";
import { CANCEL_SLOTS, FAILED, type FromWorker, RETURNED } from "../wire/protocol.ts";
import type { WorkerGrant } from "./permissions.ts";
import type { ResolvedTask } from "../pool/task.ts";
import { TimingWindow } from "../pool/stats.ts";
import { assertWorkerScriptsReadable, type SlotHost, WorkerSlot } from "./worker_slot.ts";

/** Tasks handed ahead to a worker: as many as it runs in about this long. */
const PREFETCH_BUDGET_MS = 1;
/** And never more than this many. */
const MAX_PREFETCH = 64;
/**
 * A condemned thread that stays silent this many checks in a row, each
 * `cancelGrace` long, busy with no task still wanted, is stuck: the tasks
 * beside the cancelled one cannot end, and fail.
 */
const STRIKES = 2;
/** The shortest wait between those checks, for a pool whose `cancelGrace` is 0. */
const MIN_PROBE_MS = 10;

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

/** What the scheduler tells its pool, which turns it into events. */
export interface SchedulerEvents {
  /** The last queued or running job has ended. */
  idle(): void;
  /** A bounded queue that was found full has room again. */
  drain(): void;
  /** A worker's thread stopped. */
  workerExit(worker: number, reason: WorkerExitReason, error?: Error): void;
  /** Something went wrong that belongs to no request. */
  error(error: Error): void;
}

/** A thread's initializer, checked. */
export interface InitializerSettings {
  task: ResolvedTask;
  args: readonly unknown[];
  /** Milliseconds it may take before the thread is given up. */
  timeout: number;
}

/** What the scheduler is built with; checked by `ThreadPool`. */
export interface SchedulerOptions {
  maxQueue: number;
  idleTimeout: number;
  concurrency: number;
  prefetch: number;
  name: string;
  /** The timeout of a task that sets none; undefined: none. */
  timeout: number | undefined;
  cancelGrace: number;
  maxTasksPerWorker: number;
  /** The workers' own permissions; null: they inherit this thread's. */
  grant: WorkerGrant | null;
  /** Run on every new thread before its first task; null: none. */
  initializer: InitializerSettings | null;
  events: SchedulerEvents;
}

/** Queues jobs, hands them to workers, and settles each exactly once. */
export class Scheduler implements SlotHost, JobOwner {
  readonly #slots: WorkerSlot[] = [];
  readonly #dismissed: WorkerSlot[] = [];
  /** Threads given up on, replaced in #slots, still finishing the tasks beside the one that would not stop. */
  readonly #condemned: WorkerSlot[] = [];
  readonly #queue = new Deque<Job>();
  readonly #options: SchedulerOptions;
  readonly #admission: Admission;
  #queued = 0; // jobs in #queue that are still QUEUED
  #active = 0; // jobs accepted and not yet settled or dropped
  #nextJob = 0;
  #nextSlot = 0;
  #dispatchQueued = false;
  /** Counters of outcomes and of threads replaced, for stats(). */
  readonly counts = {
    completed: 0,
    failed: 0,
    cancelled: 0,
    timedOut: 0,
    lost: 0,
    abandoned: 0,
    recycled: 0,
  };
  readonly waitTimes: TimingWindow = new TimingWindow();
  readonly runTimes: TimingWindow = new TimingWindow();
  readonly #batches = new Map<WorkerSlot, Job[]>();
  #changed: PromiseWithResolvers<void> | null = null;

  /** Creates a scheduler with no workers. */
  constructor(options: SchedulerOptions) {
    assertWorkerScriptsReadable();
    this.#options = options;
    this.#admission = new Admission(options.maxQueue, {
      queued: () => this.queued,
      enqueue: (job) => this.#enqueue(job),
      reportStarts: (on) => {
        for (const slot of this.#slots) slot.reportStarts(on);
      },
      drain: () => options.events.drain(),
    });
  }

  /** Live workers. */
  get size(): number {
    return this.#slots.length;
  }

  /** Jobs accepted and not started, including those handed ahead to a worker. */
  get queued(): number {
    let handedAhead = 0;
    for (const slot of this.#slots) handedAhead += slot.handedAhead();
    for (const slot of this.#dismissed) handedAhead += slot.handedAhead();
    for (const slot of this.#condemned) handedAhead += slot.handedAhead();
    return this.#queued + handedAhead;
  }

  /** Tasks one worker runs at once. */
  get concurrency(): number {
    return this.#options.concurrency;
  }

  /** Dismissed workers not yet forgotten. */
  get dismissed(): readonly WorkerSlot[] {
    return this.#dismissed;
  }

  /** Requests running on a worker now. */
  get running(): number {
    let running = 0;
    for (const slot of this.#others()) running += slot.inflight.size - slot.handedAhead();
    for (const slot of this.#slots) running += slot.inflight.size - slot.handedAhead();
    return Math.max(0, running);
  }

  /** Each live worker's share of its life spent with work. */
  utilisation(): number[] {
    const now = performance.now();
    return this.#slots.map((slot) => slot.utilisation(now));
  }

  /** Threads running now. */
  get liveThreads(): number {
    let live = 0;
    for (const slot of this.#slots) if (slot.thread !== null) live++;
    for (const slot of this.#others()) if (slot.thread !== null) live++;
    return live;
  }

  /** Adds workers and starts their threads. */
  addWorkers(count: number): void {
    for (let i = 0; i < count; i++) {
      const slot = new WorkerSlot(++this.#nextSlot);
      this.#slots.push(slot);
      // With a grant, a thread starts at the first task, granted its module;
      // one started now would have to be replaced then. A thread that cannot
      // start now is tried again when there is work, failing it.
      if (this.#options.grant === null && this.#startThread(slot) === undefined) {
        this.#armIdle(slot);
      }
    }
    this.dispatch();
    this.#notify();
  }

  /**
   * Dismisses the newest `count` workers: from now on they start nothing, and
   * each exits once what it is running has finished.
   */
  dismiss(count: number): WorkerSlot[] {
    const victims = this.#slots.splice(Math.max(0, this.#slots.length - count));
    for (const slot of victims) {
      this.#dismissed.push(slot);
      slot.dismiss();
      if (slot.load === 0) this.#retire(slot);
    }
    this.#notify();
    return victims;
  }

  /** Forgets dismissed workers that have exited. */
  forget(slots: readonly WorkerSlot[]): void {
    for (const slot of slots) {
      const index = this.#dismissed.indexOf(slot);
      if (index !== -1) this.#dismissed.splice(index, 1);
    }
  }

  /** Whether some worker can still settle a job of `sink`. */
  canDeliver(sink: Sink): boolean {
    if (this.#slots.length > 0) return true;
    for (const slot of this.#others()) {
      for (const job of slot.inflight.values()) if (job.sink === sink) return true;
    }
    return false;
  }

  /**
   * Makes a job; it is queued by {@linkcode Scheduler.admit}.
   *
   * @throws {Deno.errors.NotCapable} When the workers must be granted the
   * task's module and this process may not read it.
   */
  job(
    task: ResolvedTask,
    args: readonly unknown[],
    transfer: readonly Transferable[],
    sink: Sink,
    token?: unknown,
    chunk = false,
    limits: JobLimits = {},
  ): Job {
    this.#options.grant?.admit(task);
    return new Job(
      this,
      ++this.#nextJob,
      task,
      args,
      transfer,
      sink,
      token,
      chunk,
      limits.signal,
      limits.timeout ?? this.#options.timeout,
    );
  }

  /**
   * Queues the job now, or once there is room under `maxQueue`. A job whose
   * signal has already aborted is refused with the signal's reason.
   */
  admit(job: Job, block: boolean, timeout: number | undefined): Promise<void> | void {
    return this.#admission.admit(job, block, timeout);
  }

  /** Resolves when the queue has room under `maxQueue` (at once without a bound). */
  room(): Promise<void> {
    return this.#admission.room();
  }

  /** The job's signal aborted: it ends now with the signal's reason. */
  abort(job: Job): void {
    job.aborted = true;
    this.cancel(job, job.signal!.reason, false);
  }

  /**
   * Ends a job now with `error`, wherever it is. Waiting for room: its
   * admission is refused. Queued: it is taken out. On a worker: the thread
   * is told (a flag in shared memory, then a message), and holds the task as
   * a zombie until it answers; if it was running and does not stop within
   * `cancelGrace`, the thread is abandoned and replaced.
   */
  cancel(job: Job, error: Error, timedOut: boolean): void {
    switch (job.state) {
      case NEW:
        this.#admission.refuse(job, error);
        return;
      case QUEUED:
        this.#settle(job, false, error);
        this.#admission.wake();
        return;
      case SENT: {
        const slot = job.slot!;
        const running = slot.cancel(job.seq);
        this.#settle(job, false, error);
        slot.post({ t: "cancel", id: job.id, timeout: timedOut });
        const { cancelGrace } = this.#options;
        const { seq } = job;
        const timer = running ? setTimeout(() => this.#abandon(slot, seq), cancelGrace) : undefined;
        slot.zombies.set(seq, timer);
        return;
      }
    }
  }

  /** Rejects every producer still waiting for room. */
  rejectWaiters(error: () => Error): void {
    this.#admission.refuseAll(error);
  }

  /** Takes a queued job out for good, its outcome unwanted; a running one runs on. */
  drop(job: Job): void {
    if (job.state !== QUEUED) return;
    job.state = DROPPED;
    this.counts.cancelled++;
    this.#queued--;
    this.#release(job);
    this.#admission.wake();
    this.#ended();
  }

  /** Resolves at the next change of state: a job settled, a worker came or went. */
  changed(): Promise<void> {
    this.#changed ??= Promise.withResolvers();
    return this.#changed.promise;
  }

  /**
   * Sends queued jobs to the least loaded workers that have room, one message
   * per worker. Requests made in one burst (one synchronous run of the
   * caller) are sent together: dispatch runs once, in a microtask.
   */
  dispatch(): void {
    if (this.#dispatchQueued || this.#queued === 0) return;
    this.#dispatchQueued = true;
    queueMicrotask(this.#dispatchNow);
  }

  readonly #dispatchNow = (): void => {
    this.#dispatchQueued = false;
    const batches = this.#batches;
    const now = performance.now();
    while (this.#queued > 0) {
      let best: WorkerSlot | undefined;
      for (const slot of this.#slots) {
        const load = slot.load;
        if (load >= this.#capacityOf(slot) || (best !== undefined && load >= best.load)) continue;
        // A thread due for recycling takes nothing more; it is replaced once idle.
        if (slot.thread !== null && this.#dueForRecycling(slot)) {
          if (load > 0) continue;
          this.#recycle(slot);
        }
        best = slot;
      }
      if (best === undefined) break;
      const job = this.#queue.shift()!;
      if (job.state !== QUEUED) continue;
      if (job.sink.mayStart !== undefined && !job.sink.mayStart()) {
        this.#queue.unshift(job);
        break;
      }
      if (best.thread === null) {
        const error = this.#startThread(best);
        if (error !== undefined) {
          this.#settle(job, false, error);
          continue;
        }
      }
      if (best.load === 0) best.beginBusy(now);
      job.sentAt = now;
      this.waitTimes.add(now - job.queuedAt);
      this.#queued--;
      job.state = SENT;
      job.slot = best;
      job.seq = best.sent++;
      best.inflight.set(job.id, job);
      job.sink.running++;
      let batch = batches.get(best);
      if (batch === undefined) batches.set(best, batch = []);
      batch.push(job);
    }
    for (const [slot, jobs] of batches) this.#post(slot, jobs);
    batches.clear();
  };

  /**
   * How many tasks a worker may hold: its concurrency, plus tasks handed
   * ahead so that it never waits for this thread between them. How many is
   * learnt: as many as the worker gets through in about a millisecond, so
   * tiny tasks travel in batches and long ones one at a time (no worker sits
   * on work another could start).
   */
  #capacityOf(slot: WorkerSlot): number {
    const { concurrency, prefetch } = this.#options;
    // Once measured, at least one task waits ahead: a worker never idles while
    // this thread (busy, or not even scheduled when the workers fill every
    // core) gets round to sending the next one. An idle worker steals it back.
    const learnt = slot.serviceTime > 0
      ? Math.max(1, Math.min(MAX_PREFETCH, Math.floor(PREFETCH_BUDGET_MS / slot.serviceTime)))
      : 0;
    return concurrency + Math.max(prefetch, learnt);
  }

  /**
   * Waits until nothing is queued or running (a cancelled task that does not
   * stop is waited for up to `cancelGrace`), then stops every thread.
   */
  async shutdown(): Promise<void> {
    while (this.#active > 0 || this.#hasZombies()) await this.changed();
    for (const slot of this.#slots) this.#stop(slot, "closed");
    for (const slot of this.#dismissed) this.#retire(slot);
    for (const slot of [...this.#condemned]) this.#bury(slot, "closed");
    this.#notify();
  }

  /** Fails every queued and running job with `error()` and stops every thread now. */
  failEverything(error: () => Error): void {
    for (let job = this.#queue.shift(); job !== undefined; job = this.#queue.shift()) {
      this.#settle(job, false, error());
    }
    for (const slot of [...this.#slots, ...this.#others()]) {
      const jobs = [...slot.inflight.values()];
      // A condemned thread was counted when it was given up.
      if (!slot.condemned && (slot.zombies.size > 0 || jobs.some((j) => j.seq < slot.started()))) {
        this.counts.abandoned++;
      }
      this.#stop(slot, "closed");
      for (const job of jobs) this.#settle(job, false, error());
    }
    this.#notify();
  }

  /** Rebuilds the error of a task that ran on this scheduler's workers. */
  taskError(wire: WireError, task: ResolvedTask): TaskError {
    return taskError(wire, task, this.#options.grant !== null);
  }

  /** A message from a worker's current thread. */
  onMessage(slot: WorkerSlot, message: FromWorker): void {
    switch (message.t) {
      case "done": {
        const { results } = message;
        const now = performance.now(); // one clock read for the whole batch
        for (let i = 0; i < results.length; i += 4) {
          const seq = results[i + 1] as number;
          const code = results[i + 2];
          // Matched by id and seq: an answer for an earlier copy of a stolen
          // request must not settle the copy sent again.
          const job = slot.inflight.get(results[i] as number);
          if (job !== undefined && job.seq === seq) {
            if (code === RETURNED) {
              this.#settle(job, true, results[i + 3], now);
            } else if (code === FAILED) {
              this.#settle(job, false, this.taskError(results[i + 3] as WireError, job.task), now);
            } else {
              // Skipped while still ours: a steal that lost the race to the start,
              // yet was seen by the worker. It never ran: it goes back to the queue.
              this.#requeue(job);
            }
          } else if (slot.zombies.has(seq)) {
            // The thread is done with a task the pool had let go: it holds capacity no more.
            clearTimeout(slot.zombies.get(seq));
            slot.zombies.delete(seq);
            this.#notify();
          }
        }
        slot.received += results.length / 4;
        slot.learn(results.length / 4, now);
        this.#afterProgress(slot);
        return;
      }
      case "started": {
        const job = message.id === undefined ? undefined : slot.inflight.get(message.id);
        if (job?.timeout !== undefined) {
          job.timer = setTimeout(() => this.#expire(job), job.timeout);
        }
        this.#admission.wake();
        return;
      }
      case "ready":
        slot.ready = true;
        clearTimeout(slot.initTimer);
        return;
      case "initFailed": {
        const { task } = this.#options.initializer!;
        const error = this.taskError(message.error, task);
        this.onLost(slot, `its initializer failed: ${error.cause}`, error);
        return;
      }
      case "returned": {
        // The worker is the authority on what it had not started.
        for (let i = message.ids.length - 1; i >= 0; i--) {
          const job = slot.inflight.get(message.ids[i]!);
          if (job === undefined) continue;
          slot.sent--;
          this.#requeue(job);
        }
        this.#afterProgress(slot);
        return;
      }
      case "fatal": {
        const error = fromWireError(message.error);
        this.onLost(slot, `it had an uncaught error: ${error.name}: ${error.message}`, error);
        return;
      }
      case "exit":
        this.onLost(slot, message.how);
        return;
      case "pong":
        // The thread still answers: whatever runs on it can still end.
        clearTimeout(slot.probeTimer);
        slot.strikes = 0;
        slot.probeTimer = setTimeout(() => this.#probe(slot), this.#probeInterval());
        return;
    }
  }

  /**
   * A worker's thread died. What it was running fails; what it had only been
   * handed goes back to the front of the queue, in order. A thread that died
   * before it ever loaded fails everything it was handed, or a worker that
   * cannot start would be retried forever.
   */
  onLost(slot: WorkerSlot, how: string, error?: Error, reason: WorkerExitReason = "lost"): void {
    const started = slot.started();
    const loaded = slot.ready;
    // Finished results the thread held back to send together are not lost with it.
    const held = slot.heldResults();
    const cause = error ?? new Error(how);
    if (reason === "lost") this.counts.lost++;
    this.#stop(slot, reason, cause);
    const requeue: Job[] = [];
    let failed = 0;
    for (const job of [...slot.inflight.values()]) {
      const result = held.get(job.seq);
      if (result !== undefined && !result.skipped) {
        this.#settle(job, true, result.value);
        continue;
      }
      // Transferred arguments went with the dead thread: they cannot be sent again.
      if (job.seq < started || !loaded || job.transfer.length > 0) {
        const what = loaded ? "while running this request" : "before it could start";
        const lost = new WorkerLostError(`Worker #${slot.id} was lost ${what}: ${how}`, { cause });
        this.#settle(job, false, lost);
        failed++;
      } else {
        requeue.push(job);
      }
    }
    for (let i = requeue.length - 1; i >= 0; i--) this.#requeue(requeue[i]!);
    if (reason === "lost" && failed === 0) {
      // Nothing was running: no request can carry this error.
      const lost = new WorkerLostError(`Worker #${slot.id} was lost while idle: ${how}`, { cause });
      this.#options.events.error(lost);
    }
    if (slot.condemned) this.#forgetCondemned(slot);
    if (slot.dismissed) this.#retire(slot);
    this.dispatch();
    this.#admission.wake();
    this.#notify();
  }

  #enqueue(job: Job): void {
    job.state = QUEUED;
    job.queuedAt = performance.now();
    this.#queue.push(job);
    this.#queued++;
    this.#active++;
    job.sink.accept?.(job);
    this.dispatch();
  }

  /** Posts a batch; if it cannot be sent whole, sends what can be, one by one. */
  #post(slot: WorkerSlot, jobs: Job[]): void {
    try {
      slot.sendTasks(jobs);
      return;
    } catch (error) {
      slot.sent -= jobs.length;
      if (jobs.length === 1) {
        this.#refuse(jobs[0]!, error);
        return;
      }
    }
    // Some job's arguments cannot be cloned: find it, and keep the others.
    for (const job of jobs) {
      try {
        slot.sendTasks([job]);
        job.seq = slot.sent++;
      } catch (error) {
        this.#refuse(job, error);
      }
    }
  }

  /** A job whose arguments could not be sent fails with a TypeError. */
  #refuse(job: Job, error: unknown): void {
    const reason = error instanceof Error ? error.message : String(error);
    const message = `Cannot send the arguments of task "${job.task.name}" to a worker: ${reason}`;
    this.#settle(job, false, new TypeError(message, { cause: error }));
  }

  #settle(job: Job, ok: boolean, value: unknown, now?: number): void {
    if (job.state === SETTLED || job.state === DROPPED) return;
    if (job.state === QUEUED) this.#queued--;
    if (job.state === SENT) {
      job.slot!.inflight.delete(job.id);
      job.sink.running--;
      this.runTimes.add((now ?? performance.now()) - job.sentAt);
    }
    if (ok) this.counts.completed++;
    else if (job.aborted) this.counts.cancelled++;
    else if (value instanceof TaskTimeoutError) this.counts.timedOut++;
    else this.counts.failed++;
    job.state = SETTLED;
    job.slot = null;
    this.#release(job);
    if (ok) job.sink.resolve(job, value);
    else job.sink.reject(job, value as Error);
    this.#ended();
  }

  /** What every job gives up when it reaches its final state. */
  #release(job: Job): void {
    job.signal?.removeEventListener("abort", job);
    if (job.timer !== undefined) clearTimeout(job.timer);
    this.#active--;
  }

  /** After a job's final state: wake whoever waits for a change, and say when all is done. */
  #ended(): void {
    this.#notify();
    if (this.#active === 0) this.#options.events.idle();
  }

  #afterProgress(slot: WorkerSlot): void {
    if (slot.condemned) {
      this.#afterCondemnedProgress(slot);
    } else if (slot.load === 0) {
      slot.endBusy();
      if (slot.dismissed) {
        this.#retire(slot);
      } else {
        if (this.#queued === 0) this.#steal();
        if (this.#dueForRecycling(slot)) {
          this.#recycle(slot);
        } else {
          this.#armIdle(slot);
        }
      }
    }
    this.dispatch();
    this.#admission.wake();
  }

  /**
   * Whether the slot's thread has run its `maxTasksPerWorker` tasks, or was
   * started before the grant took in a task module it would have to import.
   */
  #dueForRecycling(slot: WorkerSlot): boolean {
    const { maxTasksPerWorker, grant } = this.#options;
    return (maxTasksPerWorker > 0 && slot.sent >= maxTasksPerWorker) ||
      (grant !== null && slot.grantVersion < grant.version);
  }

  /**
   * Stops an idle thread for a fresh one, started when there is work. Web
   * Workers have no memory limit: a fresh thread is how leaks are contained;
   * and a thread's permissions are fixed when it starts.
   */
  #recycle(slot: WorkerSlot): void {
    this.#stop(slot, "recycled");
    this.counts.recycled++;
  }

  /**
   * With nothing queued, takes back tasks handed ahead to busy workers and
   * not begun, so that they run on the idle ones instead of waiting.
   */
  #steal(): void {
    for (const victim of this.#slots) {
      if (victim.load <= this.#options.concurrency || victim.handedAhead() === 0) continue;
      // The last handed is the one that would wait longest.
      let last: Job | undefined;
      for (const job of victim.inflight.values()) last = job;
      if (last === undefined || last.transfer.length > 0 || !victim.steal(last.seq)) continue;
      // The thread will skip it and answer; until then it holds that capacity.
      victim.zombies.set(last.seq, undefined);
      this.#requeue(last);
    }
  }

  /** A running task outlived its timeout. */
  #expire(job: Job): void {
    job.timer = undefined;
    const error = new TaskTimeoutError(
      `Task "${job.task.name}" of ${job.task.href} timed out after ${job.timeout} ms`,
    );
    this.cancel(job, error, true);
  }

  /**
   * A cancelled task did not stop within `cancelGrace`: give up on its
   * thread. A fresh worker takes its place at once; the thread starts
   * nothing more, hands back what it had not begun, and is stopped as soon
   * as the tasks running beside the cancelled one have ended, so that they
   * pay nothing for it.
   */
  #abandon(slot: WorkerSlot, seq: number): void {
    // Stopped in time: its answer is on the way, and will clear the zombie.
    if (!slot.zombies.has(seq) || slot.endedAfterCancel(seq) || slot.condemned) return;
    this.counts.abandoned++;
    slot.condemn();
    this.#takeBack(slot);
    const index = this.#slots.indexOf(slot);
    if (index !== -1) {
      this.#slots[index] = new WorkerSlot(++this.#nextSlot);
      this.#condemned.push(slot);
    }
    this.#afterCondemnedProgress(slot);
    this.dispatch();
    this.#notify();
  }

  /**
   * Takes back, for other workers, the tasks handed ahead to `slot` that its
   * thread has not begun: at once, even if the thread is stuck and cannot
   * hand them back itself. Each steal flag covers one sequence number of a
   * window of CANCEL_SLOTS; tasks beyond it come back when the thread answers
   * or stops.
   */
  #takeBack(slot: WorkerSlot): void {
    const limit = slot.started() + CANCEL_SLOTS;
    for (const job of [...slot.inflight.values()]) {
      if (job.seq >= limit || job.transfer.length > 0 || !slot.steal(job.seq)) continue;
      slot.zombies.set(job.seq, undefined);
      this.#requeue(job);
    }
  }

  /** A condemned thread is stopped once nothing it runs is still wanted; until then it is watched. */
  #afterCondemnedProgress(slot: WorkerSlot): void {
    if (slot.thread === null) return;
    if (slot.inflight.size === 0) {
      this.#bury(slot, "abandoned");
    } else if (slot.strikes >= STRIKES) {
      this.#giveUp(slot);
    } else if (slot.probeTimer === undefined) {
      this.#probe(slot);
    }
  }

  /**
   * Asks a condemned thread to answer. A thread stuck in synchronous code
   * cannot: if it stays silent while no task still wanted is the one running
   * (the cancelled task is, or some async code is), that counts against it.
   */
  #probe(slot: WorkerSlot): void {
    slot.post({ t: "ping" });
    const check = (): void => {
      const running = slot.runningSeq();
      let wanted = false;
      for (const job of slot.inflight.values()) if (job.seq === running) wanted = true;
      // A task still wanted is computing: its own timeout bounds it, not ours.
      slot.strikes = wanted ? 0 : slot.strikes + 1;
      if (slot.strikes >= STRIKES) this.#giveUp(slot);
      else slot.probeTimer = setTimeout(check, this.#probeInterval());
    };
    slot.probeTimer = setTimeout(check, this.#probeInterval());
  }

  #probeInterval(): number {
    return Math.max(this.#options.cancelGrace, MIN_PROBE_MS);
  }

  /**
   * The condemned thread would not let the tasks beside the cancelled one
   * end: they fail with WorkerLostError, and it is stopped. Results it had
   * posted are awaited first; results it held back are read from shared memory.
   */
  #giveUp(slot: WorkerSlot): void {
    if (!slot.allReceived()) return; // the next message brings them, and comes back here
    const grace = this.#options.cancelGrace;
    this.onLost(
      slot,
      `it was terminated: a task beside it was cancelled and would not stop (not within ${grace} ms), ` +
        "and kept the thread from running this one",
      undefined,
      "abandoned",
    );
  }

  /** Stops a condemned thread whose work has ended. */
  #bury(slot: WorkerSlot, reason: WorkerExitReason): void {
    this.#stop(slot, reason);
    this.#forgetCondemned(slot);
    if (slot.dismissed) this.#retire(slot);
    this.#notify();
  }

  #forgetCondemned(slot: WorkerSlot): void {
    const index = this.#condemned.indexOf(slot);
    if (index !== -1) this.#condemned.splice(index, 1);
  }

  /** The workers that take no new work: dismissed, or condemned. */
  *#others(): Iterable<WorkerSlot> {
    yield* this.#dismissed;
    yield* this.#condemned;
  }

  #hasZombies(): boolean {
    for (const slot of this.#slots) if (slot.zombies.size > 0) return true;
    for (const slot of this.#others()) if (slot.zombies.size > 0) return true;
    return false;
  }

  #requeue(job: Job): void {
    job.slot!.inflight.delete(job.id);
    job.sink.running--;
    job.slot = null;
    job.state = QUEUED;
    this.#queue.unshift(job);
    this.#queued++;
  }

  /** Starts the slot's thread; returns why it could not, as the error its jobs get. */
  #startThread(slot: WorkerSlot): WorkerLostError | undefined {
    const { concurrency, name, grant, initializer } = this.#options;
    try {
      slot.start(this, { concurrency, name, permissions: grant?.options(), initializer });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      return new WorkerLostError(`Worker #${slot.id} could not start: ${reason}`, { cause: error });
    }
    slot.grantVersion = grant?.version ?? 0;
    if (initializer !== null && initializer.timeout !== Infinity) {
      const how = `its initializer did not finish within ${initializer.timeout} ms`;
      slot.initTimer = setTimeout(() => this.onLost(slot, how), initializer.timeout);
    }
    if (this.#admission.waiting) slot.reportStarts(true);
    return undefined;
  }

  #retire(slot: WorkerSlot): void {
    this.#stop(slot, "dismissed");
    slot.exited.resolve();
    this.#notify();
  }

  /** Stops a slot's thread, and says so if it had one. */
  #stop(slot: WorkerSlot, reason: WorkerExitReason, error?: Error): void {
    const had = slot.thread !== null;
    slot.stop();
    if (had) this.#options.events.workerExit(slot.id, reason, error);
  }

  /** Stops the slot's thread once it has been idle for `idleTimeout`. */
  #armIdle(slot: WorkerSlot): void {
    if (slot.thread === null || this.#options.idleTimeout === Infinity) return;
    slot.idleSince = performance.now();
    if (slot.idleTimer === undefined) this.#idleTimerFor(slot, this.#options.idleTimeout);
  }

  #idleTimerFor(slot: WorkerSlot, delay: number): void {
    slot.idleTimer = setTimeout(() => {
      slot.idleTimer = undefined;
      if (slot.thread === null || slot.load > 0) return;
      const left = slot.idleSince + this.#options.idleTimeout - performance.now();
      if (left > 1) this.#idleTimerFor(slot, left);
      else this.#stop(slot, "idle");
    }, delay);
    // The timer must not itself keep the process alive.
    Deno.unrefTimer(slot.idleTimer as unknown as number);
  }

  #notify(): void {
    const changed = this.#changed;
    this.#changed = null;
    changed?.resolve();
  }
}
