/**
 * Main thread, the cluster's client: what each job carries to Redis for the
 * requests in it, and how many plain requests of a short task share one (a
 * batch), by what the client has learnt of each task's duration.
 *
 * @module
 */

import type { Job } from "../core/job.ts";
import type { RateLimit } from "../core/rate_limit.ts";
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

/** The most rounds of learning a task's duration ({@linkcode JobMaker.mustWait}). */
const MAX_ROUNDS = 6;

/** Single jobs this long (ms) or longer are taken at their word: the task is long. */
const SEEMS_LONG_MS = 4 * BATCH_MS;

/** A round's time per call, as a share of the round before's, that says batching pays. */
const PAYS = 0.7;

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
  /** The rate limits by key, the whole queue's under "" (each job carries those it starts under). */
  rateLimits: ReadonlyMap<string, RateLimit>;
}

/** Makes the data of the client's jobs. */
export class JobMaker {
  readonly #options: JobOptions;
  /** The client's id: where nodes answer. */
  readonly #client: string;
  /** For each task by module and name, how long its calls typically run on a node (ms). */
  readonly #typical = new Map<string, number>();
  /** For each task whose duration is being learnt: how far that has come. */
  readonly #probes = new Map<string, Learning>();
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

  /**
   * Whether `job` goes to Redis as a job of its own, never in a batch: a
   * chunk, a request with a timeout (a batch answers when its last call ends,
   * and a neighbour's slow call must not time it out), one whose caller
   * listens to its progress, a stream, or one under a rate limit (its start
   * is one turn under it).
   */
  alone(job: Job): boolean {
    return job.chunk || job.timeout !== undefined || job.progress !== undefined ||
      job.stream !== undefined || this.#limited(job);
  }

  /** Whether `job` starts under a rate limit: the whole queue's, or its key's. */
  #limited(job: Job): boolean {
    return this.#options.rateLimits.has("") || job.policy?.rateKey !== undefined;
  }

  /** The rate limits `job` starts under, as it carries them; undefined: none. */
  #limitsOf(job: Job): ClusterJobData["r"] {
    if (!this.#limited(job)) return undefined;
    const limits: NonNullable<ClusterJobData["r"]> = [];
    for (const key of ["", job.policy?.rateKey]) {
      const limit = key === undefined ? undefined : this.#options.rateLimits.get(key);
      if (limit !== undefined) limits.push([key!, limit.max, limit.per]);
    }
    return limits;
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
    if (jobs.length === 1 && first.progress !== undefined) data.p = 1;
    // Nor can a batch's requests be rate limited.
    const limits = jobs.length === 1 ? this.#limitsOf(first) : undefined;
    if (limits !== undefined) data.r = limits;
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
    const key = taskKey(job.task);
    const learning = this.#probes.get(key);
    if (learning !== undefined) return learning.size;
    return batchFor(this.#typical.get(key) ?? Infinity);
  }

  /**
   * Whether `job` should wait here: its task's duration is not known yet, and
   * `room` of its jobs are in Redis already to learn it (as many as the nodes
   * have workers: each busy, none holding a second).
   *
   * The learning goes in rounds. The first sends the task's requests one per
   * job; once one answer more than `room` has come, the quickest of them (a
   * task's first calls on a node include loading its module, and a job's own
   * cost on its node is part of each answer) says how many calls a batch may
   * hold. If that is more, the next round sends batches of that size, whose
   * answers, the job's own cost shared by its calls, say better; and so on
   * until a round says no more (or after {@linkcode MAX_ROUNDS}; see
   * `nextSize` for when the job's own cost is most of it). So a burst of a
   * short task goes as full batches after a few round trips, and a long
   * one's calls never share a job.
   */
  mustWait(job: Job, room: number): boolean {
    const key = this.#learning(job);
    if (key === undefined) return false;
    const learning = this.#probes.get(key);
    if (learning !== undefined) learning.room = room;
    return learning !== undefined && learning.inRedis >= room;
  }

  /** A job of `jobs` goes to Redis: if its task's duration is learnt from it, that task's key. */
  probe(jobs: readonly Job[]): string | undefined {
    const key = this.#learning(jobs[0]!);
    if (key === undefined) return undefined;
    let learning = this.#probes.get(key);
    if (learning === undefined) {
      learning = {
        inRedis: 0,
        answers: 0,
        least: Infinity,
        roundLeast: Infinity,
        before: Infinity,
        room: 1,
        size: 1,
        round: 0,
      };
      this.#probes.set(key, learning);
    }
    learning.inRedis++;
    return key;
  }

  /** A job that {@linkcode probe} named `key` has ended. */
  probed(key: string): void {
    const learning = this.#probes.get(key);
    if (learning !== undefined) learning.inRedis--;
  }

  /** The key of `job`'s task while its duration is being learnt and it could share a batch. */
  #learning(job: Job): string | undefined {
    if (this.#options.batch !== undefined || this.alone(job)) return undefined;
    const key = taskKey(job.task);
    return this.#typical.has(key) ? undefined : key;
  }

  /** A job of `calls` calls of `task` ran for `ms` per call on its node. */
  learn(task: ResolvedTask, ms: number, calls = 1): void {
    const key = taskKey(task);
    const learning = this.#probes.get(key);
    if (learning === undefined) {
      this.#typical.set(key, typicalAfter(this.#typical.get(key) ?? Infinity, ms));
      return;
    }
    learning.least = Math.min(learning.least, ms);
    // A job smaller than this round's (sent before it, or the last of a burst) tells less.
    if (calls < learning.size) return;
    learning.roundLeast = Math.min(learning.roundLeast, ms);
    if (++learning.answers <= learning.room) return;
    const size = nextSize(learning);
    if (size > learning.size && ++learning.round < MAX_ROUNDS) {
      learning.before = learning.roundLeast;
      learning.size = size;
      learning.answers = 0;
      learning.roundLeast = Infinity;
      return;
    }
    this.#probes.delete(key);
    // Batches that still paid for themselves: as short as the last size says, if not shorter.
    const reached = Math.max(size, learning.size);
    this.#typical.set(
      key,
      batchingPays(learning) ? Math.min(learning.least, BATCH_MS / reached) : learning.least,
    );
  }

  /** Whether two requests are of the same task and priority (and so may share a batch). */
  static sameTask(a: Job, b: Job): boolean {
    // A batch never mixes priorities: it goes where its priority says.
    return a.task.href === b.task.href && a.task.name === b.task.name && a.priority === b.priority;
  }
}

/** How a task's duration is being learnt (see {@linkcode JobMaker.mustWait}). */
interface Learning {
  /** Its jobs in Redis that will tell it. */
  inRedis: number;
  /** Answers in this round so far. */
  answers: number;
  /** The quickest call of any answer (ms). */
  least: number;
  /** The quickest call of this round's answers (ms). */
  roundLeast: number;
  /** The same, of the round before. */
  before: number;
  /** How many of its jobs may be in Redis at once. */
  room: number;
  /** How many calls this round's jobs hold. */
  size: number;
  /** Rounds done. */
  round: number;
}

/**
 * How many calls the next round's jobs of a task being learnt hold: as many
 * as run {@linkcode BATCH_MS} by the quickest call seen. But a job's own cost
 * on its node is part of each answer, and can be over that by itself (a
 * node's thread waiting for a core): so when single jobs seem short of
 * {@linkcode SEEMS_LONG_MS}, a round of pairs is tried, and while doubling the
 * calls per job has cut the time per call to {@linkcode PAYS} or less, the
 * time is the job's, not the calls': the size doubles again.
 */
function nextSize(learning: Learning): number {
  const size = batchFor(learning.least);
  if (learning.size === 1) return size === 1 && learning.least < SEEMS_LONG_MS ? 2 : size;
  return batchingPays(learning) ? Math.min(MAX_BATCH, Math.max(size, learning.size * 2)) : size;
}

/** Whether this round's bigger jobs cut the time per call to {@linkcode PAYS} of the round before's. */
function batchingPays(learning: Learning): boolean {
  return learning.roundLeast <= learning.before * PAYS;
}

/** How many calls of a task that typically runs `ms` a batch holds. */
function batchFor(ms: number): number {
  return Math.min(MAX_BATCH, Math.ceil(BATCH_MS / ms));
}

/** A task by its module and name. */
function taskKey(task: ResolvedTask): string {
  return `${task.name}@${task.href}`;
}
