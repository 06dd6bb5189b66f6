/**
 * Worker thread: calling tasks. Each task module is imported once; a call's
 * synchronous part is timed (how long it takes says whether its result may
 * wait for its neighbours'), a chunk's calls run one after another, and the
 * thread publishes how long it is busy per task, which the pool hands ahead by.
 *
 * @module
 */

import { toWireError } from "../wire/error_wire.ts";
import { isThenable } from "../wire/thenable.ts";
import {
  CHUNK,
  type ChunkOutcome,
  RUNNING,
  SERVICE_TIME,
  SERVICE_TIME_UNITS,
} from "../wire/protocol.ts";
import type { RunningTask, WorkerContext } from "./task_context.ts";

/** A task module's export, as the worker calls it. */
export type TaskFunction = (...args: unknown[]) => unknown;

/** An entry of the function table: a task function, once loaded, and its timing. */
export interface Def {
  readonly module: string;
  readonly name: string;
  fn: TaskFunction | null;
  loading: Promise<TaskFunction> | null;
  /** How long its calls' synchronous part takes, smoothed (ms); Infinity: not yet known. */
  time: number;
}

/** A task as this worker runs it. */
export interface Task extends RunningTask {
  readonly def: Def;
  readonly args: unknown[];
  /** Whether it came by the lane, where its result goes back if it can. */
  readonly lane: boolean;
  /** For a stream: how many values it may send before it waits for more. */
  readonly credit: number;
  /** Set once its result is being streamed: the task then ends with the stream. */
  streaming: boolean;
}

/** What a task's outcome is handed to. */
export type Finish = (task: Task, ok: boolean, value: unknown) => void;

/** A function table entry for `name` of `module`, not loaded yet. */
export function def(module: string, name: string): Def {
  return { module, name, fn: null, loading: null, time: Infinity };
}

/** Runs tasks on this thread and hands each outcome to `finish`. */
export class TaskRunner {
  readonly #context: WorkerContext;
  readonly #finish: Finish;
  /** When the last task ended, and how long the thread is busy per task, smoothed (ms). */
  #lastEnd = 0;
  #busyPerTask = 0;

  constructor(context: WorkerContext, finish: Finish) {
    this.#context = context;
    this.#finish = finish;
  }

  /** Calls the task, once its module is loaded. */
  start(task: Task): void {
    const { def } = task;
    if (def.fn !== null) this.#invoke(task, def.fn);
    else {
      load(def).then((fn) => this.#invoke(task, fn), (error) => this.#finish(task, false, error));
    }
  }

  #invoke(task: Task, fn: TaskFunction): void {
    const context = this.#context;
    let value: unknown;
    let threw = false;
    context.current = task;
    Atomics.store(context.counters, RUNNING, task.seq + 1);
    const begun = performance.now();
    try {
      value = task.flags & CHUNK
        ? runChunk(context, fn, task.args as unknown[][])
        : fn(...task.args);
    } catch (error) {
      threw = true;
      value = error;
    }
    context.current = null;
    Atomics.store(context.counters, RUNNING, 0);
    const ended = performance.now();
    // The synchronous part is what can hold results back; learn how long it takes.
    const took = ended - begun;
    const { def } = task;
    def.time = def.time === Infinity ? took : def.time * 0.8 + took * 0.2;
    if (!threw && isThenable(value)) {
      const end = (ok: boolean, outcome: unknown) => {
        this.#served(begun, performance.now());
        this.#finish(task, ok, outcome);
      };
      value.then((result) => end(true, result), (error) => end(false, error));
    } else {
      this.#served(begun, ended);
      this.#finish(task, !threw, value);
    }
  }

  /**
   * A task that began at `begun` ended at `end`: the thread was busy with it
   * from then, or from the end of the one before if that was later (tasks run
   * at once share the time). Published for the pool, which hands ahead about a
   * millisecond's worth.
   */
  #served(begun: number, end: number): void {
    const busy = end - Math.max(begun, this.#lastEnd);
    this.#lastEnd = Math.max(this.#lastEnd, end);
    if (busy < 0) return;
    const smoothed = this.#busyPerTask === 0 ? busy : this.#busyPerTask * 0.8 + busy * 0.2;
    this.#busyPerTask = smoothed;
    const units = Math.round(smoothed * SERVICE_TIME_UNITS);
    Atomics.store(this.#context.counters, SERVICE_TIME, Math.max(1, Math.min(units, 0x7fffffff)));
  }
}

async function runChunk(
  context: WorkerContext,
  fn: TaskFunction,
  calls: unknown[][],
): Promise<ChunkOutcome[]> {
  const task = context.current;
  const outcomes: ChunkOutcome[] = [];
  for (const args of calls) {
    context.current = task;
    if (task !== null) Atomics.store(context.counters, RUNNING, task.seq + 1);
    try {
      let value = fn(...args);
      context.current = null;
      Atomics.store(context.counters, RUNNING, 0);
      if (isThenable(value)) value = await value;
      outcomes.push([true, value]);
    } catch (error) {
      outcomes.push([false, toWireError(error)]);
    } finally {
      context.current = null;
      Atomics.store(context.counters, RUNNING, 0);
    }
  }
  return outcomes;
}

/** Imports a task's module (once) and finds its export. */
export function load(def: Def): Promise<TaskFunction> {
  if (def.loading === null) {
    def.loading = import(def.module).then((exports: Record<string, unknown>) => {
      const fn = exports[def.name];
      if (typeof fn !== "function") {
        const has = Object.keys(exports).filter((name) => typeof exports[name] === "function");
        throw new TypeError(
          `Module ${def.module} has no exported function "${def.name}"` +
            (fn === undefined ? "" : ` (it is ${typeof fn})`) +
            `; its exported functions are: ${has.join(", ") || "none"}`,
        );
      }
      def.fn = fn as TaskFunction;
      return def.fn;
    });
    // A failed import is not kept, so a module fixed on disk can load later.
    def.loading.catch(() => def.loading = null);
  }
  return def.loading;
}
