/**
 * Main thread, the seam between the front and an engine: the contract that
 * the author of a new engine reads.
 *
 * The front owns the request queue, admission under `maxQueue`, timeouts,
 * and the one path by which a job reaches its final state, exactly once. An
 * engine runs jobs somewhere (worker threads, machines behind a job queue,
 * the calling thread in the tests): it takes jobs from the front when it has
 * room, reports when they begin, and reports each outcome; it is told when
 * the front has ended a job early and when to stop.
 *
 * The life of a job as an engine sees it:
 *
 * 1. The front calls {@linkcode Engine.pull} when jobs are queued. The engine
 *    calls {@linkcode EngineHost.take} while it has room; each job it gets is
 *    now SENT and belongs to the engine until it is settled or given back.
 * 2. When the job begins running, the engine calls
 *    {@linkcode EngineHost.began} if the job has a `timeout` (its clock starts
 *    then) or if {@linkcode EngineHost.waitingForRoom} is true.
 * 3. The engine ends the job with {@linkcode EngineHost.settle}, or, if it
 *    never began it, may put it back with {@linkcode EngineHost.giveBack} (it
 *    then runs elsewhere, or on the engine again).
 * 4. If the caller aborts or the timeout passes first, the front calls
 *    {@linkcode Engine.cancel}: the engine forgets the job at once (the front
 *    settles it right after), tells whatever runs it to stop, and frees the
 *    room it held once it has stopped.
 *
 * @module
 */

import type { Job, Sink } from "./job.ts";
import type { ResolvedTask } from "./task.ts";

/** What the front offers an engine. */
export interface EngineHost {
  /**
   * Takes the next queued job that may start now and marks it SENT, or
   * returns undefined when none may. `now` is `performance.now()`, read
   * once by the caller for a whole batch.
   */
  take(now: number): Job | undefined;
  /**
   * Puts a SENT job the engine took and did not begin back at the head of the
   * queue. The engine must have forgotten it first.
   */
  giveBack(job: Job): void;
  /**
   * A SENT job began running: its timeout clock starts now. `at`: when it
   * began, in ms since the epoch as its thread read it, if it said.
   */
  began(job: Job, at?: number): void;
  /**
   * Ends a SENT job with its outcome, once. The engine must have forgotten it
   * first. `now` as for `take`, when the engine has read it. `ran`: how long
   * (ms) the job ran where it ran, for an engine that {@linkcode Engine.timesRuns}.
   */
  settle(job: Job, ok: boolean, value: unknown, now?: number, ran?: number): void;
  /**
   * The engine has room again (a worker came, a job ended): the front calls
   * {@linkcode Engine.pull} soon, once however often it is asked, if jobs are queued.
   */
  pull(): void;
  /** Room may have freed: producers waiting under `maxQueue` are let in. */
  roomChanged(): void;
  /** A worker came, went or stopped: whoever waits on the pool's state looks again. */
  changed(): void;
  /** Jobs queued and not yet taken by the engine. */
  readonly backlog: number;
  /**
   * Whether producers wait for room. While they do, the engine reports every
   * start of a job it had handed ahead (through `began` or `roomChanged`),
   * since each frees room.
   */
  readonly waitingForRoom: boolean;
}

/** How many of an engine's workers there are, and what became of them. */
export interface EngineWorkers {
  /** Workers that take jobs now. */
  live: number;
  /** Workers removed and not yet forgotten. */
  dismissed: number;
  /** Workers that died. */
  lost: number;
  /** Workers given up on because a cancelled task on them would not stop. */
  abandoned: number;
  /** Workers replaced fresh by design. */
  recycled: number;
}

/** An engine: where jobs run. Every member is called on the main thread. */
export interface Engine {
  /** Binds the engine to its front: called once, before anything else. */
  attach(host: EngineHost): void;
  /**
   * Called for every new job before it is queued, with its task and
   * arguments: throws to refuse the call that made it (the error reaches
   * that caller), for a task this engine can never run or arguments it
   * cannot carry.
   */
  admit(task: ResolvedTask, args: readonly unknown[]): void;
  /** Workers that can take jobs (a replacement still starting counts). */
  readonly size: number;
  /** Jobs one worker runs at once: with `size`, how much work keeps the engine busy. */
  readonly concurrency: number;
  /**
   * Set when a job runs away from the engine (a cluster node): a job's wait
   * is then from its acceptance to its start, and its run time is what
   * `settle` is told, not the time since the engine took it.
   */
  readonly timesRuns?: boolean;
  /** SENT jobs not begun: the front counts them as queued, against `maxQueue`. */
  handedAhead(): number;
  /** SENT jobs running now. */
  running(): number;
  /**
   * Jobs are queued: take through `EngineHost.take` what there is room for.
   * The front calls it at most once per burst of requests (in a microtask),
   * and again whenever a queued job may have become startable.
   */
  pull(): void;
  /**
   * A job of `priority` was queued: give back (through `EngineHost.giveBack`)
   * the jobs handed ahead of lower priority that have not begun, so that it
   * starts before them. The front calls it at most once per burst, before
   * `pull`, and only once priorities other than 0 are in use.
   */
  recall(priority: number): void;
  /**
   * The front ends a SENT job early (its signal aborted, or its timeout
   * passed): forget it now, without settling it (the front does), and tell
   * whatever runs it to stop.
   */
  cancel(job: Job, timedOut: boolean): void;
  /**
   * Producers began (`true`) or stopped waiting for room: while they wait,
   * report every start of a job handed ahead, as `EngineHost.waitingForRoom` says.
   */
  reportStarts(on: boolean): void;
  /** Whether the engine can still settle some job of `sink` (else `NoWorkersAvailable`). */
  canDeliver(sink: Sink): boolean;
  /** Whether cancelled jobs still wind down somewhere: a graceful close waits for them. */
  windingDown(): boolean;
  /** Nothing is queued or running: stop every worker (and resolve once stopped, if that takes time). */
  shutdown(): Promise<void> | void;
  /** Stops every worker now, and returns the SENT jobs it forgot, for the front to fail. */
  terminate(): Job[];
  /** The workers' counts, for `stats()`. */
  workers(): EngineWorkers;
  /** Each live worker's share of its life spent with work, for `stats()`. */
  utilisation(): number[];
}
