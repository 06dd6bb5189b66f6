/**
 * Main thread, the cluster's client: what each job carries to Redis for the
 * requests in it, and how many plain requests of a short task share one (a
 * batch), by what the client has learnt of each task's duration.
 *
 * @module
 */

import type { Job } from "../core/job.ts";
import type { ResolvedTask } from "../core/task.ts";
import { encode } from "./codec.ts";
import { portable } from "./modules.ts";
import { type ClusterJobData, DEFAULT_LOSSES, typicalAfter } from "./protocol.ts";

/**
 * Milliseconds of work a batch carries. A short task's requests queued
 * together go to Redis as batches, a job each, since a job's own cost (a few
 * hundred microseconds to a few milliseconds of CPU, between the client,
 * Redis and the node) is then most of a request's; a batch holds as few calls
 * as typically run this long on a node, so that batches still spread over the
 * nodes. A task whose calls take this long or longer goes one request per job.
 */
const BATCH_MS = 6;

/** The most requests in one batch. */
const MAX_BATCH = 32;

/** The client's options that shape its jobs. */
export interface JobOptions {
  /** What task module paths are relative to, as a folder URL. */
  root: URL;
  /** The largest encoded arguments, in bytes. */
  maxPayload: number;
  /** How many times a request may be lost and run again. */
  maxLosses: number;
  /** The most requests in one batch, when the user fixed it; undefined: it adapts. */
  batch: number | undefined;
}

/** Makes the data of the client's jobs. */
export class JobMaker {
  readonly #options: JobOptions;
  /** The client's id: where nodes answer. */
  readonly #client: string;
  /** For each task by module and name, how long its calls typically run on a node (ms). */
  readonly #typical = new Map<string, number>();
  /**
   * For each task whose duration is being learnt: its jobs in Redis that will
   * tell it, the answers so far and the quickest of them, and how many jobs
   * may be in Redis at once.
   */
  readonly #probes = new Map<
    string,
    { inRedis: number; answers: number; least: number; room: number }
  >();
  /** Encoded arguments, made once when the call is admitted. */
  readonly #encoded = new WeakMap<readonly unknown[], string>();
  /** How many times each request sent again was lost before (with Redis, or with nodes). */
  readonly #lostBefore = new WeakMap<Job, number>();

  constructor(options: JobOptions, client: string) {
    this.#options = options;
    this.#client = client;
  }

  /**
   * A new call: its module must travel, and its arguments are encoded now.
   *
   * @throws {TypeError} When the module is outside `root`, or the arguments cannot be encoded.
   * @throws {RangeError} When they are over `maxPayload`.
   */
  admit(task: ResolvedTask, args: readonly unknown[]): void {
    portable(task.href, this.#options.root);
    this.#encoded.set(args, encode(args, "the arguments", this.#options.maxPayload));
  }

  /** The data of one job for `jobs`: one request, or a batch of plain requests of one task. */
  data(jobs: readonly Job[]): ClusterJobData {
    const [first] = jobs as [Job, ...Job[]];
    const data: ClusterJobData = {
      m: portable(first.task.href, this.#options.root),
      n: first.task.name,
      a: jobs.length > 1 ? "" : this.#arguments(first),
      c: this.#client,
    };
    if (jobs.length > 1) data.b = jobs.map((job) => this.#arguments(job));
    // Only a job of one request can be timed or a chunk: a batch's requests are all plain.
    if (jobs.length === 1 && first.timeout !== undefined) data.t = first.timeout;
    if (jobs.length === 1 && first.chunk) data.k = 1;
    // A request sent again after a loss has that much less of its bound left.
    let lostBefore = 0;
    for (const job of jobs) lostBefore = Math.max(lostBefore, this.lostBefore(job));
    const losses = this.#options.maxLosses - lostBefore;
    if (losses !== DEFAULT_LOSSES) data.l = losses;
    return data;
  }

  /** How many times `job` was lost before it was sent again. */
  lostBefore(job: Job): number {
    return this.#lostBefore.get(job) ?? 0;
  }

  /** `job` has now been lost `times` in all, and is sent again. */
  lost(job: Job, times: number): void {
    this.#lostBefore.set(job, times);
  }

  /** A request's encoded arguments, made when it was admitted. */
  #arguments(job: Job): string {
    return this.#encoded.get(job.args) ?? encode(job.args, "the arguments", Infinity);
  }

  /**
   * How many plain requests of `job`'s task may share its batch: 1 for a task
   * not known to be short. (Chunks and requests with a timeout never share
   * one: a batch answers when its last call ends, and a neighbour's slow call
   * must not time one out.)
   */
  batchRoom(job: Job): number {
    if (this.#options.batch !== undefined) return this.#options.batch;
    const typical = this.#typical.get(taskKey(job.task)) ?? Infinity;
    return Math.min(MAX_BATCH, Math.ceil(BATCH_MS / typical));
  }

  /**
   * Whether `job` should wait here: its task's duration is not known yet, and
   * `room` of its requests are in Redis already, one per job, to learn it
   * (as many as the nodes have workers: each busy, none holding a second).
   * Once more answers than that have come, the quickest of them (a task's
   * first calls on a node include loading its module) says whether the rest
   * may share batches. So a burst of a short task goes as batches after a
   * few round trips, and a long one's calls never share a job.
   */
  mustWait(job: Job, room: number): boolean {
    const key = this.#learning(job);
    if (key === undefined) return false;
    const learnt = this.#probes.get(key);
    if (learnt !== undefined) learnt.room = room;
    return learnt !== undefined && learnt.inRedis >= room;
  }

  /** `job` goes to Redis: if it is one that its task's duration is learnt from, that task's key. */
  probe(job: Job): string | undefined {
    const key = this.#learning(job);
    if (key === undefined) return undefined;
    const learnt = this.#probes.get(key) ?? { inRedis: 0, answers: 0, least: Infinity, room: 1 };
    learnt.inRedis++;
    this.#probes.set(key, learnt);
    return key;
  }

  /** A job that {@linkcode probe} named `key` has ended. */
  probed(key: string): void {
    const learnt = this.#probes.get(key);
    if (learnt !== undefined) learnt.inRedis--;
  }

  /** The key of `job`'s task while its duration is being learnt and it could share a batch. */
  #learning(job: Job): string | undefined {
    if (this.#options.batch !== undefined || job.chunk || job.timeout !== undefined) {
      return undefined;
    }
    const key = taskKey(job.task);
    return this.#typical.has(key) ? undefined : key;
  }

  /** A task's calls ran for `ms` each on a node. */
  learn(task: ResolvedTask, ms: number): void {
    const key = taskKey(task);
    const learnt = this.#probes.get(key);
    if (learnt === undefined) {
      this.#typical.set(key, typicalAfter(this.#typical.get(key) ?? Infinity, ms));
      return;
    }
    learnt.least = Math.min(learnt.least, ms);
    if (++learnt.answers <= learnt.room) return;
    this.#probes.delete(key);
    this.#typical.set(key, learnt.least);
  }

  /** Whether two requests are of the same task (and so may share a batch). */
  static sameTask(a: Job, b: Job): boolean {
    return a.task.href === b.task.href && a.task.name === b.task.name;
  }
}

/** A task by its module and name. */
function taskKey(task: ResolvedTask): string {
  return `${task.name}@${task.href}`;
}
