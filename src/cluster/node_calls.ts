/**
 * Main thread, a cluster node: a job's calls on the node's local pool, and
 * their outcome as the node answers it.
 *
 * @module
 */

import { PoolClosedError, TaskError, TaskTimeoutError, WorkerLostError } from "../core/errors.ts";
import type { ThreadPool } from "../thread_pool.ts";
import { decode, DEFAULT_MAX_PAYLOAD, encode } from "./codec.ts";
import type { ClusterAnswer, ClusterJobData, FailureKind } from "./protocol.ts";

/** Whether a batch's or chunk's outcomes hold a call the local pool refused as it closed. */
export function refusedByClosing(value: unknown): boolean {
  return Array.isArray(value) &&
    value.some((outcome) =>
      Array.isArray(outcome) && outcome[0] === false && outcome[1] instanceof PoolClosedError
    );
}

/** Runs a job's call, or each call of a chunk, on the local pool. */
export function runOn(pool: ThreadPool, data: ClusterJobData, module: string, signal: AbortSignal) {
  const args = decode(data.a) as unknown[];
  const spec = { module, name: data.n };
  const options = { signal, ...(data.t !== undefined && { timeout: data.t }) };
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

/** A failed run's answer: what kind of failure, and its error. */
export function answerFor(error: unknown): ClusterAnswer {
  const cause = error instanceof TaskError ? error.cause : error;
  return { ok: false, kind: kindOf(error), v: encode(cause, "an error", DEFAULT_MAX_PAYLOAD) };
}
