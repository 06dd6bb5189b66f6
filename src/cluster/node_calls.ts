/**
 * Main thread, a cluster node: a job's calls on the node's local pool, and
 * their outcome as the node answers it.
 *
 * @module
 */

import { PoolClosedError, TaskError, TaskTimeoutError, WorkerLostError } from "../core/errors.ts";
import type { ThreadPool } from "../thread_pool.ts";
import { ON_START } from "../core/job.ts";
import { decode, DEFAULT_MAX_PAYLOAD, encode } from "./codec.ts";
import type { ClusterAnswer, ClusterJobData, FailureKind } from "./protocol.ts";
import { toWireError, type WireError } from "../wire/error_wire.ts";

/** Whether a batch's or chunk's outcomes hold a call the local pool refused as it closed. */
export function refusedByClosing(value: unknown): boolean {
  return Array.isArray(value) &&
    value.some((outcome) =>
      Array.isArray(outcome) && outcome[0] === false && outcome[1] instanceof PoolClosedError
    );
}

/** Runs a job's call, or each call of a chunk, on the local pool; `onProgress` hears a call's reports. */
export function runOn(
  pool: ThreadPool,
  data: ClusterJobData,
  module: string,
  signal: AbortSignal,
  onProgress?: (value: unknown) => void,
  onStart?: () => void,
) {
  const args = decode(data.a) as unknown[];
  const spec = { module, name: data.n };
  const options = {
    signal,
    ...(data.t !== undefined && { timeout: data.t }),
    ...(onProgress !== undefined && { onProgress }),
    ...(onStart !== undefined && { [ON_START]: onStart }),
  };
  if (data.k !== 1) return pool.run(spec, args as never, options);
  return Promise.all(
    args.map((call) =>
      pool.run(spec, call as never, options).then(
        (value) => [true, value],
        (error) => [false, error instanceof TaskError ? error.cause : error],
      )
    ),
  );
}

/** How a call failed, by its error. */
export function kindOf(error: unknown): FailureKind {
  return error instanceof TaskTimeoutError
    ? "timeout"
    : error instanceof WorkerLostError
    ? "lost"
    : "task";
}

/**
 * A call's error as it crosses to its client: the task's own (a `TaskError`'s
 * cause), as the threads' wire carries it, so that the client rebuilds its
 * class, name, message, stack and cause as a `ThreadPool` does (structured
 * cloning keeps only the built-in errors' classes, and no other name).
 */
function failure(error: unknown): WireError {
  return toWireError(error instanceof TaskError ? error.cause : error);
}

/**
 * A batch's or a chunk's outcomes as they cross to the client: each call's
 * error as {@linkcode failure} sends it.
 */
export function crossing(outcomes: readonly unknown[]): unknown[] {
  return outcomes.map((outcome) => {
    const [ok, error, ...rest] = outcome as [boolean, unknown, ...unknown[]];
    return ok ? outcome : [false, toWireError(error), ...rest];
  });
}

/** A failed run's answer: what kind of failure (by default, by its error), and its error. */
export function answerFor(error: unknown, kind: FailureKind = kindOf(error)): ClusterAnswer {
  return {
    ok: false,
    kind,
    v: encode(failure(error), "an error", DEFAULT_MAX_PAYLOAD),
  };
}
