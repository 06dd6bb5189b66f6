/**
 * Main thread, the Web Worker engine: what a worker's answers, or its
 * death, mean for each job it held — a result, an error, a job to queue
 * again, or a task the pool had already let go.
 *
 * @module
 */

import { WorkerLostError } from "../core/errors.ts";
import type { TaskError } from "../core/errors.ts";
import type { CallOutcome, Job } from "../core/job.ts";
import type { ResolvedTask } from "../core/task.ts";
import type { HeldResult } from "../wire/held_results.ts";
import { type ChunkOutcome, FAILED, RETURNED, type WireResults } from "../wire/protocol.ts";
import type { WorkerSlot } from "./worker_slot.ts";

/** Where each job's outcome goes. */
export interface Outcomes {
  /** The job ended: its slot forgets it, and the front gets its outcome. */
  settle(job: Job, ok: boolean, value: unknown, now?: number): void;
  /** The job never ran: it goes back to the queue. */
  requeue(job: Job): void;
  /** The thread answered for task `seq`, which the pool had already let go. */
  answered(slot: WorkerSlot, seq: number): void;
  /** A task's error, rebuilt for its caller. */
  taskError(wire: unknown, task: ResolvedTask): TaskError;
}

/** Reads a batch of results: `[id, seq, code, value, …]`, the first `length` entries of `results`. */
export function readResults(
  slot: WorkerSlot,
  results: WireResults,
  now: number,
  outcomes: Outcomes,
  length: number = results.length,
): void {
  for (let i = 0; i < length; i += 4) {
    const seq = results[i + 1] as number;
    const code = results[i + 2];
    // Matched by id and seq: an answer for an earlier copy of a stolen
    // request must not settle the copy sent again.
    const job = slot.inflight.get(results[i] as number);
    if (job === undefined || job.seq !== seq) {
      outcomes.answered(slot, seq);
    } else if (code === RETURNED) {
      const value = results[i + 3];
      outcomes.settle(job, true, job.chunk ? calls(value, job.task, outcomes) : value, now);
    } else if (code === FAILED) {
      outcomes.settle(job, false, outcomes.taskError(results[i + 3], job.task), now);
    } else {
      // Skipped while still ours: a steal that lost the race to the start,
      // yet was seen by the worker. It never ran: it goes back to the queue.
      outcomes.requeue(job);
    }
  }
}

/** Reads the results waiting in workers' lanes, into one array reused from read to read. */
export class LaneReader {
  #results: WireResults | null = [];

  /** Settles the jobs whose results wait in `slot`'s lane; says whether there were any. */
  read(slot: WorkerSlot, outcomes: Outcomes): boolean {
    const lane = slot.lane;
    if (lane === null) return false;
    // A read started while one settles its jobs gets an array of its own.
    const results = this.#results ?? [];
    this.#results = null;
    let length = 0;
    try {
      length = lane.read(results);
      if (length === 0) return false;
      readResults(slot, results, performance.now(), outcomes, length);
      return true;
    } finally {
      // The values go (they are the callers' now); the array keeps its room.
      for (let i = 3; i < length; i += 4) results[i] = undefined;
      this.#results = results;
    }
  }
}

/** The thread handed back tasks it had not begun: it is the authority on that. */
export function readReturned(slot: WorkerSlot, ids: readonly number[], outcomes: Outcomes): void {
  for (let i = ids.length - 1; i >= 0; i--) {
    const job = slot.inflight.get(ids[i]!);
    if (job === undefined) continue;
    slot.sent--;
    outcomes.requeue(job);
  }
}

/**
 * Ends what a dead thread held. A result it had held back is delivered;
 * what it was running fails; what it had only been handed goes back to the
 * front of the queue, in order. A thread that died before it ever loaded
 * fails everything it was handed, or a worker that cannot start would be
 * retried forever. Returns how many jobs failed.
 */
export function endLostJobs(
  slot: WorkerSlot,
  lost: { how: string; cause: Error; started: number; loaded: boolean },
  held: ReadonlyMap<number, HeldResult>,
  outcomes: Outcomes,
): number {
  const { how, cause, started, loaded } = lost;
  const requeue: Job[] = [];
  let failed = 0;
  for (const job of [...slot.inflight.values()]) {
    const result = held.get(job.seq);
    if (result !== undefined && !result.skipped) {
      outcomes.settle(job, true, result.value);
    } else if (job.seq < started || !loaded || job.transfer.length > 0) {
      // Transferred arguments went with the dead thread: they cannot be sent again.
      const what = loaded ? "while running this request" : "before it could start";
      const error = new WorkerLostError(`Worker #${slot.id} was lost ${what}: ${how}`, { cause });
      outcomes.settle(job, false, error);
      failed++;
    } else {
      requeue.push(job);
    }
  }
  for (let i = requeue.length - 1; i >= 0; i--) outcomes.requeue(requeue[i]!);
  return failed;
}

/** A chunk's outcomes as the front receives them: errors rebuilt. */
function calls(value: unknown, task: ResolvedTask, outcomes: Outcomes): CallOutcome[] {
  return (value as ChunkOutcome[]).map(([ok, item]) =>
    ok ? [true, item] : [false, outcomes.taskError(item, task)]
  );
}
