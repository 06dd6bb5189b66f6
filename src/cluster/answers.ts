/**
 * Main thread, the cluster's client: what a node's answer means for the
 * requests its job carried, each one's value or its error rebuilt as the
 * caller receives it; and a request's progress reports, handed on.
 *
 * @module
 */

import { TaskError, TaskTimeoutError, WorkerLostError } from "../core/errors.ts";
import type { CallOutcome, Job } from "../core/job.ts";
import type { ResolvedTask } from "../core/task.ts";
import { fromWireError, type WireError } from "../wire/error_wire.ts";
import { decode } from "./codec.ts";
import type { BatchOutcome, ClusterAnswer, FailureKind } from "./protocol.ts";

/** A request's outcome: the request, whether it succeeded, and its value or error. */
export type Settlement = [job: Job, ok: boolean, value: unknown];

/**
 * Each request's outcome by its job's answer; a `null` in `jobs` is a request
 * that ended before its job did.
 *
 * @throws {Error} When the answer is not one a node of this version gives.
 */
export function settlements(
  answer: ClusterAnswer,
  jobs: readonly (Job | null)[],
  task: ResolvedTask,
): Settlement[] {
  const settled: Settlement[] = [];
  if (jobs.length > 1 && answer.ok) {
    const outcomes = decode(answer.v) as BatchOutcome[];
    if (!Array.isArray(outcomes) || outcomes.length !== jobs.length) {
      throw new Error(`a batch of ${jobs.length} requests got no outcome for each`);
    }
    jobs.forEach((job, i) => {
      if (job === null) return;
      const [ok, value, kind] = outcomes[i]!;
      settled.push([job, ok, ok ? value : rebuild(kind!, value, task)]);
    });
    return settled;
  }
  for (const job of jobs) {
    if (job === null) continue;
    if (!answer.ok) settled.push([job, false, rebuild(answer.kind, decode(answer.v), task)]);
    else {
      const value = decode(answer.v);
      settled.push([job, true, job.chunk ? calls(value, task) : value]);
    }
  }
  return settled;
}

/** A chunk's outcomes, errors rebuilt. */
function calls(value: unknown, task: ResolvedTask): CallOutcome[] {
  return (value as [boolean, unknown][]).map(([ok, item]) =>
    ok ? [true, item] : [false, rebuild("task", item, task)]
  );
}

/** A node's error (as the threads' wire carries it) as the caller receives it. */
export function rebuild(kind: FailureKind, cause: unknown, task: ResolvedTask): Error {
  const error = cause instanceof Error
    ? cause
    : isWireError(cause)
    ? fromWireError(cause)
    : new Error(String(cause));
  switch (kind) {
    case "timeout":
      return new TaskTimeoutError(error.message, { cause: error });
    case "lost":
      return new WorkerLostError(error.message, { cause: error });
    default: {
      const wrapped = new TaskError(error.message, { cause: error });
      const frames = error.stack?.split("\n").slice(1).join("\n");
      wrapped.stack = `TaskError: ${error.message}\n    in task "${task.name}" of ${task.href}` +
        (frames ? `\n${frames}` : "");
      return wrapped;
    }
  }
}

/** Whether a node sent `value` as an error on the threads' wire. */
function isWireError(value: unknown): value is WireError {
  const wire = value as WireError | null;
  return typeof wire === "object" && wire !== null && typeof wire.name === "string" &&
    typeof wire.message === "string";
}

/** Hands a progress report a node wrote (encoded) to the request that listens, if it still does. */
export function reportProgress(job: Job | null | undefined, encoded: string): void {
  if (job === null || job === undefined || job.progress === undefined) return;
  let report: unknown;
  try {
    report = decode(encoded);
  } catch {
    return; // not a report this client can read: nothing to hand on
  }
  job.progress(report);
}
