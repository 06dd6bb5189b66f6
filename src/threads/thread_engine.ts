/**
 * Main thread, the Web Worker engine: the pool's workers, which jobs go to
 * which (placement, prefetch, stealing), what their threads report, and
 * their lifecycle (idle stops, recycling, dismissal, loss). Cancelled tasks
 * that will not stop are handled by {@linkcode Abandonment}. The front's work
 * queue hands jobs in and takes outcomes back through the `Engine` seam.
 *
 * @module
 */

import type { Engine, EngineHost, EngineWorkers } from "../core/engine.ts";
import type { TaskError } from "../core/errors.ts";
import { WorkerLostError } from "../core/errors.ts";
import type { CallOutcome, Job, Sink } from "../core/job.ts";
import type { ResolvedTask } from "../core/task.ts";
import type { WireError } from "../wire/error_wire.ts";
import { errorMessage, fromWireError } from "../wire/error_wire.ts";
import { type ChunkOutcome, FAILED, type FromWorker, RETURNED } from "../wire/protocol.ts";
import { Abandonment } from "./abandonment.ts";
import type { WorkerGrant } from "./permissions.ts";
import { taskError } from "./task_error.ts";
import {
  assertWorkerScriptsReadable,
  type SlotHost,
  type WorkerExitReason,
  WorkerSlot,
} from "./worker_slot.ts";

/** Tasks handed ahead to a worker: as many as it runs in about this long. */
const PREFETCH_BUDGET_MS = 1;
/** And never more than this many. */
const MAX_PREFETCH = 64;

/** What the engine tells its pool, which turns it into events. */
export interface ThreadEngineEvents {
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

/** What the engine is built with, checked by the pool's config. */
export interface ThreadEngineOptions {
  idleTimeout: number;
  concurrency: number;
  prefetch: number;
  name: string;
  cancelGrace: number;
  maxTasksPerWorker: number;
  /** The workers' own permissions; null: they inherit this thread's. */
  grant: WorkerGrant | null;
  /** Run on every new thread before its first task; null: none. */
  initializer: InitializerSettings | null;
}

/** Runs jobs on Web Workers. */
export class ThreadEngine implements Engine, SlotHost {
  readonly #slots: WorkerSlot[] = [];
  readonly #dismissed: WorkerSlot[] = [];
  readonly #options: ThreadEngineOptions;
  readonly #events: ThreadEngineEvents;
  readonly #batches = new Map<WorkerSlot, Job[]>();
  readonly #abandonment: Abandonment;
  #host!: EngineHost;
  #nextSlot = 0;
  /** Counters of threads lost and replaced, for stats(). */
  readonly counts = { lost: 0, abandoned: 0, recycled: 0 };

  /**
   * Creates an engine with no workers.
   *
   * @throws {Deno.errors.NotCapable} When this program may not read the worker scripts.
   */
  constructor(options: ThreadEngineOptions, events: ThreadEngineEvents) {
    assertWorkerScriptsReadable();
    this.#options = options;
    this.#events = events;
    this.#abandonment = new Abandonment(options.cancelGrace, {
      replace: (slot) => {
        this.counts.abandoned++;
        const index = this.#slots.indexOf(slot);
        if (index === -1) return false;
        this.#slots[index] = new WorkerSlot(++this.#nextSlot);
        return true;
      },
      requeue: (job) => this.#requeue(job),
      lost: (slot, how) => this.onLost(slot, how, undefined, "abandoned"),
      stop: (slot, reason) => {
        this.#stop(slot, reason);
        if (slot.dismissed) this.#retire(slot);
      },
      changed: () => {
        this.#host.pull();
        this.#host.changed();
      },
    });
  }

  attach(host: EngineHost): void {
    this.#host = host;
  }

  admit(task: ResolvedTask): void {
    this.#options.grant?.admit(task);
  }

  /** Live workers. */
  get size(): number {
    return this.#slots.length;
  }

  /** Tasks one worker runs at once. */
  get concurrency(): number {
    return this.#options.concurrency;
  }

  /** Dismissed workers not yet forgotten. */
  get dismissed(): readonly WorkerSlot[] {
    return this.#dismissed;
  }

  handedAhead(): number {
    let handedAhead = 0;
    for (const slot of this.#all()) handedAhead += slot.handedAhead();
    return handedAhead;
  }

  running(): number {
    let running = 0;
    for (const slot of this.#all()) running += slot.inflight.size - slot.handedAhead();
    return Math.max(0, running);
  }

  utilisation(): number[] {
    const now = performance.now();
    return this.#slots.map((slot) => slot.utilisation(now));
  }

  workers(): EngineWorkers {
    return { live: this.#slots.length, dismissed: this.#dismissed.length, ...this.counts };
  }

  /** Threads running now. */
  get liveThreads(): number {
    let live = 0;
    for (const slot of this.#all()) if (slot.thread !== null) live++;
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
    this.#host.pull();
    this.#host.changed();
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
    this.#host.changed();
    return victims;
  }

  /** Forgets dismissed workers that have exited. */
  forget(slots: readonly WorkerSlot[]): void {
    for (const slot of slots) {
      const index = this.#dismissed.indexOf(slot);
      if (index !== -1) this.#dismissed.splice(index, 1);
    }
  }

  canDeliver(sink: Sink): boolean {
    if (this.#slots.length > 0) return true;
    for (const slot of this.#all()) {
      for (const job of slot.inflight.values()) if (job.sink === sink) return true;
    }
    return false;
  }

  reportStarts(on: boolean): void {
    for (const slot of this.#slots) slot.reportStarts(on);
  }

  windingDown(): boolean {
    for (const slot of this.#all()) if (slot.zombies.size > 0) return true;
    return false;
  }

  /**
   * Sends queued jobs to the least loaded workers that have room, one
   * message per worker.
   */
  pull(): void {
    const batches = this.#batches;
    const now = performance.now();
    for (;;) {
      const best = this.#roomiest();
      if (best === undefined) break;
      const job = this.#host.take(now);
      if (job === undefined) break;
      if (best.thread === null) {
        const error = this.#startThread(best);
        if (error !== undefined) {
          this.#host.settle(job, false, error, now);
          continue;
        }
      }
      if (best.load === 0) best.beginBusy(now);
      job.place = best;
      job.seq = best.sent++;
      best.inflight.set(job.id, job);
      let batch = batches.get(best);
      if (batch === undefined) batches.set(best, batch = []);
      batch.push(job);
    }
    for (const [slot, jobs] of batches) this.#post(slot, jobs);
    batches.clear();
  }

  /**
   * The front ended a job early. Its thread is told (a flag in shared
   * memory, then a message), and holds the task as a zombie until it
   * answers; if it was running and does not stop within `cancelGrace`, the
   * thread is given up.
   */
  cancel(job: Job, timedOut: boolean): void {
    const slot = job.place as WorkerSlot;
    const running = slot.cancel(job.seq);
    slot.inflight.delete(job.id);
    slot.post({ t: "cancel", id: job.id, timeout: timedOut });
    this.#abandonment.watch(slot, job.seq, running);
  }

  shutdown(): void {
    for (const slot of this.#slots) this.#stop(slot, "closed");
    for (const slot of this.#dismissed) this.#retire(slot);
    this.#abandonment.stopAll();
    this.#host.changed();
  }

  terminate(): Job[] {
    const jobs: Job[] = [];
    for (const slot of this.#all()) {
      const held = [...slot.inflight.values()];
      // A thread given up on was counted then.
      if (!slot.condemned && (slot.zombies.size > 0 || held.some((j) => j.seq < slot.started()))) {
        this.counts.abandoned++;
      }
      this.#stop(slot, "closed");
      slot.inflight.clear();
      for (const job of held) jobs.push(job);
    }
    return jobs;
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
              const value = results[i + 3];
              this.#settle(job, true, job.chunk ? this.#calls(value, job.task) : value, now);
            } else if (code === FAILED) {
              this.#settle(job, false, this.#taskError(results[i + 3], job.task), now);
            } else {
              // Skipped while still ours: a steal that lost the race to the start,
              // yet was seen by the worker. It never ran: it goes back to the queue.
              this.#requeue(job);
            }
          } else {
            this.#abandonment.answered(slot, seq);
          }
        }
        slot.received += results.length / 4;
        slot.learn(results.length / 4, now);
        this.#afterProgress(slot);
        return;
      }
      case "started": {
        const job = message.id === undefined ? undefined : slot.inflight.get(message.id);
        if (job !== undefined) this.#host.began(job);
        else this.#host.roomChanged();
        return;
      }
      case "ready":
        slot.ready = true;
        clearTimeout(slot.initTimer);
        return;
      case "initFailed": {
        const error = this.#taskError(message.error, this.#options.initializer!.task);
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
        this.#abandonment.pong(slot);
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
      this.#events.error(lost);
    }
    if (slot.condemned) this.#abandonment.forget(slot);
    if (slot.dismissed) this.#retire(slot);
    this.#host.pull();
    this.#host.roomChanged();
    this.#host.changed();
  }

  /** The live slot with the least load that has room, if any. */
  #roomiest(): WorkerSlot | undefined {
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
    return best;
  }

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
    const message = `Cannot send the arguments of task "${job.task.name}" to a worker: ${
      errorMessage(error)
    }`;
    this.#settle(job, false, new TypeError(message, { cause: error }));
  }

  /** Forgets a job and hands its outcome to the front. */
  #settle(job: Job, ok: boolean, value: unknown, now?: number): void {
    (job.place as WorkerSlot).inflight.delete(job.id);
    this.#host.settle(job, ok, value, now);
  }

  /** Forgets a job that never ran here and gives it back to the front's queue. */
  #requeue(job: Job): void {
    (job.place as WorkerSlot).inflight.delete(job.id);
    this.#host.giveBack(job);
  }

  /** Rebuilds a task's error; a sandboxed worker's denial is said to be the pool's. */
  #taskError(wire: unknown, task: ResolvedTask): TaskError {
    return taskError(wire as WireError, task, this.#options.grant !== null);
  }

  /** A chunk's outcomes as the front receives them: errors rebuilt. */
  #calls(value: unknown, task: ResolvedTask): CallOutcome[] {
    return (value as ChunkOutcome[]).map(([ok, item]) =>
      ok ? [true, item] : [false, this.#taskError(item, task)]
    );
  }

  #afterProgress(slot: WorkerSlot): void {
    if (slot.condemned) {
      this.#abandonment.progressed(slot);
    } else if (slot.load === 0) {
      slot.endBusy();
      if (slot.dismissed) {
        this.#retire(slot);
      } else {
        if (this.#host.backlog === 0) this.#steal();
        if (this.#dueForRecycling(slot)) this.#recycle(slot);
        else this.#armIdle(slot);
      }
    }
    this.#host.pull();
    this.#host.roomChanged();
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

  /** Starts the slot's thread; returns why it could not, as the error its jobs get. */
  #startThread(slot: WorkerSlot): WorkerLostError | undefined {
    const { concurrency, name, grant, initializer } = this.#options;
    try {
      slot.start(this, { concurrency, name, permissions: grant?.options(), initializer });
    } catch (error) {
      return new WorkerLostError(`Worker #${slot.id} could not start: ${errorMessage(error)}`, {
        cause: error,
      });
    }
    slot.grantVersion = grant?.version ?? 0;
    if (initializer !== null && initializer.timeout !== Infinity) {
      const how = `its initializer did not finish within ${initializer.timeout} ms`;
      slot.initTimer = setTimeout(() => this.onLost(slot, how), initializer.timeout);
    }
    if (this.#host.waitingForRoom) slot.reportStarts(true);
    return undefined;
  }

  #retire(slot: WorkerSlot): void {
    this.#stop(slot, "dismissed");
    slot.exited.resolve();
    this.#host.changed();
  }

  /** Stops a slot's thread, and says so if it had one. */
  #stop(slot: WorkerSlot, reason: WorkerExitReason, error?: Error): void {
    const had = slot.thread !== null;
    slot.stop();
    if (had) this.#events.workerExit(slot.id, reason, error);
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

  /** Every slot with a thread that may still run work: live, dismissed, given up. */
  *#all(): Iterable<WorkerSlot> {
    yield* this.#slots;
    yield* this.#dismissed;
    yield* this.#abandonment.slots;
  }
}
