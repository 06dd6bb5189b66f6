/**
 * What the cluster uses of BullMQ 6.7.0 (`npm.ts`), declared as that
 * version's own declarations do, without their references to Node's types
 * (through ioredis's).
 *
 * @module
 */

import type { Redis } from "./ioredis.d.ts";

/** A job as BullMQ's `Queue.addBulk` takes it. */
export interface BulkJob<D> {
  name: string;
  data: D;
  opts: {
    jobId: string;
    removeOnComplete?: boolean;
    removeOnFail?: boolean;
    attempts?: number;
  };
}

/** A queue, to add jobs to. */
export declare class Queue<D = unknown> {
  constructor(name: string, options: { connection: Redis });
  on(event: "error", listener: (error: Error) => void): this;
  waitUntilReady(): Promise<void>;
  addBulk(jobs: BulkJob<D>[]): Promise<Job<D>[]>;
  /** Removes a job that is not locked (running); 1 if it was removed. */
  remove(jobId: string): Promise<number>;
  /** The Redis key of `type` (a job's id: that job's hash). */
  toKey(type: string): string;
  close(): Promise<void>;
}

/** A job, as a worker's processor is given it. */
export declare class Job<D = unknown> {
  id?: string;
  data: D;
  /** How many times it was found stalled (its worker's lock lapsed) and taken again. */
  stalledCounter: number;
  /** Its priority, BullMQ's: lower first; 0 for none. */
  priority: number;
  /** Puts the job, locked by `token`, back in the queue unstarted. */
  moveToWait(token?: string): Promise<number>;
}

/** The options of a worker that this cluster sets. */
export interface WorkerOptions {
  connection: Redis;
  concurrency?: number;
  lockDuration?: number;
  stalledInterval?: number;
  maxStalledCount?: number;
}

/** Takes jobs from a queue and runs `processor` on each. */
export declare class Worker<D = unknown, R = unknown> {
  constructor(
    name: string,
    processor: (job: Job<D>, token?: string) => Promise<R>,
    options: WorkerOptions,
  );
  /** How many jobs it holds at once; may be changed as it runs. */
  concurrency: number;
  on(event: "error", listener: (error: Error) => void): this;
  waitUntilReady(): Promise<void>;
  close(force?: boolean): Promise<void>;
}

/** Thrown by a processor that has moved its job back (`Job.moveToWait`): not a failure. */
export declare class WaitingError extends Error {}
