/**
 * Main thread, the cluster's client: jobs on their way into the queue.
 *
 * @module
 */

import type { Queue } from "./npm.ts";
import type { ClusterJobData } from "./protocol.ts";

/** Jobs in the first addition of a burst, so that nodes can start at once. */
const FIRST_ADD = 4;

/** Jobs in each later addition. */
const ADD_CHUNK = 128;

/** A job as it is added to the queue. */
export interface OutgoingJob {
  name: string;
  data: ClusterJobData;
  opts: {
    jobId: string;
    removeOnComplete: true;
    removeOnFail: true;
    attempts: 1;
    /** BullMQ's priority: lower first (see `bullPriority`). */
    priority: number;
  };
}

/** What an outbox asks and tells of the jobs it adds, by id. */
export interface OutboxCalls {
  /** Whether a job is still to be added. */
  wanted(id: string): boolean;
  /** Redis has taken the job. */
  added(id: string): void;
  /** Redis did not take the job, for this reason. */
  unsent(id: string, error: Error): void;
  /** Redis has taken these jobs, one addition. */
  arrived(jobs: readonly OutgoingJob[]): void;
}

/**
 * Adds jobs to Redis, a few first and then in chunks, each once the one
 * before is in: nodes start on the first jobs of a burst while the rest are
 * still being added (one pipeline of thousands would keep them waiting until
 * all of it is built and run). A job no longer wanted when its turn comes
 * (cancelled) is not added at all.
 */
export class Outbox {
  readonly #jobs: OutgoingJob[] = [];
  readonly #calls: OutboxCalls;
  #adding = false;

  constructor(calls: OutboxCalls) {
    this.#calls = calls;
  }

  push(job: OutgoingJob): void {
    this.#jobs.push(job);
  }

  /** Adds what is in the outbox, unless an addition is under way (it takes these too). */
  send(queue: Queue): void {
    if (!this.#adding) void this.#add(queue);
  }

  async #add(queue: Queue): Promise<void> {
    this.#adding = true;
    try {
      for (let size = FIRST_ADD; this.#jobs.length > 0; size = ADD_CHUNK) {
        const chunk = this.#jobs.splice(0, size).filter((job) =>
          this.#calls.wanted(job.opts.jobId)
        );
        if (chunk.length === 0) continue;
        await queue.addBulk(chunk).then(
          () => {
            for (const { opts } of chunk) this.#calls.added(opts.jobId);
            this.#calls.arrived(chunk);
          },
          (error: Error) => {
            for (const { opts } of chunk) this.#calls.unsent(opts.jobId, error);
          },
        );
      }
    } finally {
      this.#adding = false;
    }
  }
}
