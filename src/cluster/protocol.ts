/**
 * Both ends of the cluster: what a job carries in Redis, and what a node
 * answers with. A node always completes a job with an answer (a task's
 * error included): BullMQ's `failed` event carries only a string, and typed
 * errors must cross machines.
 *
 * @module
 */

/** A job's data in the queue. */
export interface ClusterJobData {
  /** The task module: a path relative to the node's root, or a remote specifier as it is. */
  m: string;
  /** The export's name. */
  n: string;
  /** The arguments, encoded (`codec.ts`); for a chunk, one argument list per call. */
  a: string;
  /** Milliseconds the task may run on the node, from its start. */
  t?: number;
  /** Set for a chunk: several calls, one outcome each. */
  k?: 1;
  /** How many times the job may be lost with its node before it fails; absent: {@linkcode DEFAULT_LOSSES}. */
  l?: number;
}

/** How many node losses a job survives by default: it runs again once. */
export const DEFAULT_LOSSES = 1;

/** The most node losses a client may let a job survive. */
export const MAX_LOSSES = 100;

/** How a job ended on its node. */
export type ClusterAnswer =
  /** The task returned: the value, encoded. */
  | { ok: true; v: string }
  /**
   * It did not: `task` (it threw; `v` is its error), `timeout` (it ran past
   * its timeout), `lost` (the node's worker died), `refused` (the node does
   * not run that module); `v` is the error, encoded.
   */
  | { ok: false; kind: "task" | "timeout" | "lost" | "refused"; v: string };
