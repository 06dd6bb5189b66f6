/**
 * Both ends of the cluster: what a job carries in Redis, and what a node
 * answers with. A node always answers a job (a task's error included), and
 * answers where only the job's client reads: that client's own stream of
 * answers, written before the job completes, so that a job is never
 * complete without its answer. (BullMQ's queue-wide event stream is trimmed
 * to about 10,000 events and carries every client's events to every client:
 * a client that falls behind loses answers there, and pays for everyone's.)
 *
 * @module
 */

import { quote, text } from "../pool/validate.ts";

/** A job's data in the queue. */
export interface ClusterJobData {
  /** The task module: a path relative to the node's root, or a remote specifier as it is. */
  m: string;
  /** The export's name. */
  n: string;
  /** The arguments, encoded (`codec.ts`); for a chunk, one argument list per call. */
  a: string;
  /**
   * Set for a batch: several requests of the same task sent as one job, each
   * one's arguments encoded; `a` is then empty. Each call is cancelled on its
   * own (its key and message name the job's id, a colon and its index).
   */
  b?: string[];
  /** Milliseconds the task may run on the node, from its start. */
  t?: number;
  /** Set for a chunk: several calls, one outcome each. */
  k?: 1;
  /** Set when the client listens to the task's progress reports. */
  p?: 1;
  /**
   * Set for a stream: how many values the node may send before it waits for
   * more room (granted by the client on {@linkcode creditKey}).
   */
  s?: number;
  /** For a stream: how many values the node's own pool may make ahead of what the node sends. */
  w?: number;
  /** How many times the job may be lost with its node before it fails; absent: {@linkcode DEFAULT_LOSSES}. */
  l?: number;
  /** The client's id: where the answer goes ({@linkcode answersKey}). */
  c: string;
  /**
   * The rate limits the job starts under: each `[key, max, per]`, the
   * client's limit for the whole queue under "" and its request's `rateKey`'s
   * own. A node starts it only when every one allows ({@linkcode rateKeys}).
   */
  r?: [key: string, max: number, per: number][];
}

/**
 * Where the starts under a queue's rate limit of `key` ("": the whole
 * queue's) are counted, for every node: the confirmed starts (a sorted set by
 * when Redis heard of each), the turns given and not yet confirmed (by when
 * each expires), and when the next start is due, evenly spaced.
 */
export function rateKeys(queue: string, key: string): [starts: string, given: string, due: string] {
  const base = key === "" ? `threadpool:${queue}:rate` : `threadpool:${queue}:rate:${key}`;
  return [`${base}:starts`, `${base}:given`, `${base}:due`];
}

/** What a client's id must look like: a node writes to a key named after it. */
export const CLIENT_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The stream of one client's answers (and notices of its jobs' starts and
 * losses), which only that client reads, trimming what it has read.
 */
export function answersKey(queue: string, client: string): string {
  return `threadpool:${queue}:answers:${client}`;
}

/**
 * Milliseconds a client's stream of answers outlives its last entry: what a
 * client that stops for good leaves behind is gone after that. A client that
 * is cut off for longer than this and comes back finds its answers gone, and
 * treats those requests as lost.
 */
export const ANSWERS_TTL_MS = 3_600_000;

/**
 * A key set once, with a random value, by the first client to find it
 * missing: a missing or different value tells a client that Redis lost what
 * it held (a restart without persistence, a failover, an eviction).
 */
export function epochKey(queue: string): string {
  return `threadpool:${queue}:epoch`;
}

/**
 * What a node writes to a client's stream for a job: the entry's fields,
 * `j` (the job's id) then one of `a` (its answer, JSON), `s` (it started on
 * the node), `l` (how many times it has been lost with its node so far) and
 * `g` (the node took the client for gone and did not run the job: `0`, or
 * stopped it running: `1`), `p` (the task's latest progress report,
 * encoded as arguments are: `codec.ts`) and `v` (a stream's values,
 * `[seq, values]` encoded so, `seq` counting the entries from 0).
 */
export type AnswerField = "a" | "s" | "l" | "g" | "p" | "v";

/**
 * BullMQ's priority for a request's `priority`: BullMQ takes lower numbers
 * first, from 1 to 2²¹, and a job without one before every job with one;
 * so every job has one, and a request's priority of 0 is in the middle.
 */
export function bullPriority(priority: number): number {
  return 1_048_576 - priority;
}

/** A request's priority, from its job's BullMQ priority ({@linkcode bullPriority}'s inverse). */
export function requestPriority(bull: number): number {
  return 1_048_576 - bull;
}

/**
 * What a client publishes on {@linkcode cancelChannel} once it has added
 * `count` jobs of `priority` (the highest of an addition): a node hands
 * back up to that many jobs it holds, not started, of a lower priority.
 */
export function priorityMessage(priority: number, count: number): string {
  return `prio:${priority}:${count}`;
}

/** The queue both ends use when none is named. */
export const DEFAULT_QUEUE = "threadpool";

/**
 * What a queue's name must be, or `undefined` when `name` is one: BullMQ
 * keeps a queue under `bull:<name>:…`, so an empty name, or one with a colon,
 * names no queue.
 */
export function queueNameProblem(name: string): string | undefined {
  return name === ""
    ? "a non-empty name"
    : name.includes(":")
    ? "a name without ':' (BullMQ's key separator)"
    : undefined;
}

/**
 * Checks the `queue` option of `action`, both ends alike.
 *
 * @throws {TypeError} When it is not a string.
 * @throws {RangeError} When it names no BullMQ queue.
 */
export function queueOption(action: string, value: unknown): string {
  const name = text(action, "queue", value) ?? DEFAULT_QUEUE;
  const problem = queueNameProblem(name);
  if (problem !== undefined) {
    throw new RangeError(
      `Cannot ${action} as 'queue' must be ${problem}: current value is ${quote(name)}`,
    );
  }
  return name;
}

/** The longest lease a node may take on its jobs, in milliseconds (a timer's limit). */
export const MAX_LEASE = 2 ** 31 - 1;

/** How many node losses a job survives by default: it runs again once. */
export const DEFAULT_LOSSES = 1;

/** The most node losses a client may let a job survive. */
export const MAX_LOSSES = 100;

/** How a job ended on its node. */
export type ClusterAnswer =
  & (
    /** The task returned: the value, encoded (for a batch: `BatchOutcome`s). */
    | { ok: true; v: string }
    /**
     * It did not: `task` (it threw; `v` is its error), `timeout` (it ran past
     * its timeout), `lost` (the node's worker died), `refused` (the node does
     * not run that module); `v` is the error, encoded.
     */
    | { ok: false; kind: FailureKind; v: string }
  )
  & {
    /** Milliseconds the job ran on the node, per call: what tells the client a task is short. */
    d?: number;
  };

/**
 * How long a task's jobs typically take, after one took `ms`: a slower one is
 * believed at once (holding or batching long work is what must not happen),
 * a faster one halfway. `Infinity` is "not known yet".
 */
export function typicalAfter(typical: number, ms: number): number {
  return ms >= typical || typical === Infinity ? ms : (typical + ms) / 2;
}

/** How a call failed on its node. */
export type FailureKind = "task" | "timeout" | "lost" | "refused";

/** One call's outcome in a batch: its value, or its error and how it failed. */
export type BatchOutcome = [ok: true, value: unknown] | [
  ok: false,
  error: unknown,
  kind: FailureKind,
];

/** The channel on which a client tells nodes to stop a job. */
export function cancelChannel(queue: string): string {
  return `threadpool:${queue}:cancel`;
}

/** The key that says a job was cancelled, for nodes that missed the message. */
export function cancelKey(queue: string, jobId: string): string {
  return `threadpool:${queue}:cancelled:${jobId}`;
}

/** Seconds a cancel's key lives. */
export const CANCEL_TTL_S = 3600;

/**
 * The room a client has given a stream's job beyond its first (`s`), in
 * values, raised as its reader reads. A node hears of more room by a
 * `pull:<jobId>:<room>` message on {@linkcode cancelChannel}, or reads this
 * key (a message can be missed).
 */
export function creditKey(queue: string, jobId: string): string {
  return `threadpool:${queue}:credit:${jobId}`;
}

/**
 * Set by a node before it sends a stream's first values: a node that takes
 * the job after that one was lost must not run it again (its values would
 * arrive twice), and fails it instead.
 */
export function streamedKey(queue: string, jobId: string): string {
  return `threadpool:${queue}:streamed:${jobId}`;
}

/**
 * BullMQ's lock on a job being processed: its value is the token of the
 * worker holding the job. A node that no longer holds a stream's job (Redis
 * lost it, or it went to another node after this one fell silent) must send
 * none of its values.
 */
export function lockKey(queue: string, jobId: string): string {
  return `bull:${queue}:${jobId}:lock`;
}

/** Seconds a stream's keys live. */
export const STREAM_TTL_S = 3600;

/**
 * Milliseconds a job runs on its node before the node tells its client that
 * it started (for its timeout's clock and `stats()`): a shorter job's answer
 * is the only entry it costs.
 */
export const STARTED_AFTER_MS = 5;
