/**
 * A second engine, for the tests only: it runs each job on the calling
 * thread, by importing the task's module and calling the export, at most
 * `concurrency` at once. It proves the seam: the front (the ancestor's API,
 * `run()`, `map()`, `results()`, cancellation, timeouts) works over any
 * engine that keeps the contract in `src/core/engine.ts`.
 */
import type { Engine, EngineHost, EngineWorkers } from "../../src/core/engine.ts";
import { TaskError } from "../../src/core/errors.ts";
import type { CallOutcome, Job, Sink } from "../../src/core/job.ts";
import type { ResolvedTask } from "../../src/core/task.ts";

type TaskFunction = (...args: unknown[]) => unknown;

/** Runs jobs on this thread. */
export class InProcessEngine implements Engine {
  readonly size = 1;
  readonly concurrency: number;
  /** Modules this engine refuses, to show a refusal at the call. */
  readonly refused = new Set<string>();
  /** Jobs cancelled while their task still runs: they hold their place until it ends. */
  #windingDown = 0;
  readonly #running = new Set<Job>();
  #host!: EngineHost;

  constructor(concurrency: number) {
    this.concurrency = concurrency;
  }

  attach(host: EngineHost): void {
    this.#host = host;
  }

  admit(task: ResolvedTask): void {
    if (this.refused.has(task.href)) {
      throw new TypeError(`Cannot run task module ${task.href}: this engine refuses it`);
    }
  }

  handedAhead(): number {
    return 0;
  }

  running(): number {
    return this.#running.size;
  }

  recall(): void {
    // Nothing is handed ahead.
  }

  pull(): void {
    while (this.#running.size + this.#windingDown < this.concurrency) {
      const job = this.#host.take(performance.now());
      if (job === undefined) return;
      this.#running.add(job);
      job.place = this;
      this.#host.began(job);
      this.#run(job);
    }
  }

  cancel(job: Job): void {
    // The task runs on this thread and cannot be stopped; its outcome is dropped.
    this.#running.delete(job);
    this.#windingDown++;
  }

  canDeliver(_sink: Sink): boolean {
    return true;
  }

  reportStarts(): void {}

  windingDown(): boolean {
    return this.#windingDown > 0;
  }

  shutdown(): void {}

  terminate(): Job[] {
    const jobs = [...this.#running];
    this.#running.clear();
    return jobs;
  }

  workers(): EngineWorkers {
    return { live: 1, dismissed: 0, lost: 0, abandoned: 0, recycled: 0 };
  }

  utilisation(): number[] {
    return [];
  }

  async #run(job: Job): Promise<void> {
    let ok = true;
    let value: unknown;
    try {
      const exports: Record<string, unknown> = await import(job.task.href);
      const fn = exports[job.task.name] as TaskFunction;
      value = job.chunk
        ? await this.#calls(fn, job.args as unknown[][])
        : await fn(...(job.args as unknown[]));
    } catch (error) {
      ok = false;
      value = asTaskError(error);
    }
    if (this.#running.delete(job)) this.#host.settle(job, ok, value);
    else this.#windingDown--;
    this.#host.changed();
    this.#host.pull();
  }

  async #calls(fn: TaskFunction, calls: unknown[][]): Promise<CallOutcome[]> {
    const outcomes: CallOutcome[] = [];
    for (const args of calls) {
      try {
        outcomes.push([true, await fn(...args)]);
      } catch (error) {
        outcomes.push([false, asTaskError(error)]);
      }
    }
    return outcomes;
  }
}

function asTaskError(error: unknown): TaskError {
  const cause = error instanceof Error ? error : new Error(String(error));
  return new TaskError(cause.message, { cause });
}
