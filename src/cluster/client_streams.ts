/**
 * Main thread, the cluster's client: its streams' values as nodes write
 * them, in order and once each (an entry may be heard twice), and the room
 * it gives their nodes as its readers read.
 *
 * @module
 */

import type { Job } from "../core/job.ts";
import { decode } from "./codec.ts";
import { cancelChannel, creditKey, STREAM_TTL_S } from "./protocol.ts";
import type { RedisClient } from "./redis.ts";

/**
 * The share of a stream's window a node's own pool may make ahead of what
 * the node sends: a little (its thread is near), so that most of the window
 * covers the way through Redis.
 */
export function nodeWindow(highWaterMark: number): number {
  return Math.max(1, Math.min(256, Math.floor(highWaterMark / 4)));
}

/** The client's streams in Redis. */
export class ClientStreams {
  readonly #queue: string;
  /** For each stream's job, the next entry of values expected. */
  readonly #next = new Map<string, number>();
  /** For each stream's job, the room given beyond its first. */
  readonly #room = new Map<string, number>();

  constructor(queue: string) {
    this.#queue = queue;
  }

  /**
   * A stream's job is sent: its first room, and how the node hears of more
   * (on `connection()`, the client's command connection when it has one).
   */
  open(jobId: string, job: Job, window: number, connection: () => RedisClient | undefined): number {
    this.#next.set(jobId, 0);
    this.#room.set(jobId, 0);
    const key = creditKey(this.#queue, jobId);
    const channel = cancelChannel(this.#queue);
    return job.stream!.open((n) => {
      const client = connection();
      const room = (this.#room.get(jobId) ?? 0) + n;
      if (client === undefined || !this.#room.has(jobId)) return;
      this.#room.set(jobId, room);
      // The room only grows; the message carries it, and a node that missed it reads the key.
      client.pipeline().set(key, room, "EX", STREAM_TTL_S).publish(channel, `pull:${jobId}:${room}`)
        .exec().catch(() => {});
    }, window);
  }

  /** Whether the stream of job `jobId` has had values: lost then, it must not run again. */
  streamed(jobId: string): boolean {
    return (this.#next.get(jobId) ?? 0) > 0;
  }

  /**
   * A node wrote values of job `jobId` (`encoded`: `[seq, values]`): hands
   * them to its request once, in order. False when they cannot be: an entry
   * missing before them, or unreadable (the stream must then fail).
   */
  values(jobId: string, job: Job | null | undefined, encoded: string): boolean {
    const next = this.#next.get(jobId);
    if (next === undefined || job === null || job === undefined) return true;
    let seq: number;
    let values: unknown[];
    try {
      [seq, values] = decode(encoded) as [number, unknown[]];
    } catch {
      return false;
    }
    if (seq < next) return true; // heard again
    if (seq > next || !Array.isArray(values)) return false;
    this.#next.set(jobId, next + 1);
    job.stream!.values(values);
    return true;
  }

  /** The job has ended. */
  forget(jobId: string): void {
    this.#next.delete(jobId);
    this.#room.delete(jobId);
  }
}
