/**
 * Main thread, a cluster node: what it writes to its clients' streams of
 * answers — a job's answer, and notices of its start and its losses. Each
 * goes to the stream of the job's own client, which only that client reads.
 *
 * @module
 */

import type { Job as BullJob } from "./npm.ts";
import {
  type AnswerField,
  ANSWERS_TTL_MS,
  answersKey,
  CLIENT_ID,
  type ClusterJobData,
} from "./protocol.ts";
import type { RedisClient } from "./redis.ts";

/** How many clients' streams a node keeps in mind; it forgets them all past that. */
const MAX_CLIENTS_KNOWN = 10_000;

/** Writes to the streams of a queue's clients, on one connection, in the order asked. */
export class Replies {
  readonly #queue: string;
  readonly #connection: RedisClient;
  /** For each client's stream, until when the node leaves its time to live as it is. */
  readonly #expiring = new Map<string, number>();

  /**
   * @param connection Where the writes go. BullMQ's connection for the node's jobs: on it, a
   * job's answer reaches Redis before the job's completion, and its notices before its answer.
   */
  constructor(queue: string, connection: RedisClient) {
    this.#queue = queue;
    this.#connection = connection;
  }

  /**
   * Writes `field` (`value`) for `job` to its client's stream. The command is
   * sent at the call; the promise says whether Redis took it.
   */
  async tell(job: BullJob<ClusterJobData>, field: AnswerField, value: string): Promise<void> {
    const client = job.data.c;
    // A job without a client id (forged, or from another program) has no one to answer.
    if (typeof client !== "string" || !CLIENT_ID.test(client)) return;
    const key = answersKey(this.#queue, client);
    if (field === "g") {
      // For a client taken for gone: a stream it left is not made again, nor kept longer.
      await this.#connection.xadd(key, "NOMKSTREAM", "*", "j", job.id!, field, value);
      return;
    }
    const now = Date.now();
    if ((this.#expiring.get(key) ?? 0) > now) {
      await this.#connection.xadd(key, "*", "j", job.id!, field, value);
      return;
    }
    // The stream's time to live is set again now and then, not with every answer.
    if (this.#expiring.size >= MAX_CLIENTS_KNOWN) this.#expiring.clear();
    this.#expiring.set(key, now + ANSWERS_TTL_MS / 60);
    const results = await this.#connection.pipeline()
      .xadd(key, "*", "j", job.id!, field, value)
      .pexpire(key, ANSWERS_TTL_MS)
      .exec();
    const failed = results?.find(([error]) => error !== null)?.[0];
    if (failed) throw failed;
  }
}
