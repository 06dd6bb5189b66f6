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
  lockKey,
} from "./protocol.ts";
import type { RedisClient } from "./redis.ts";

/**
 * Adds an entry to a client's stream only while the job's lock is the
 * node's. KEYS: the lock, the stream. ARGV: the token, the job's id, the
 * field, the value, the stream's time to live in ms ("" to leave it). 1 if
 * written, 0 if the node no longer holds the job.
 */
const XADD_IF_HELD = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('XADD', KEYS[2], '*', 'j', ARGV[2], ARGV[3], ARGV[4])
if ARGV[5] ~= '' then redis.call('PEXPIRE', KEYS[2], ARGV[5]) end
return 1`;

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
    if (!this.#expires(key)) {
      await this.#connection.xadd(key, "*", "j", job.id!, field, value);
      return;
    }
    const results = await this.#connection.pipeline()
      .xadd(key, "*", "j", job.id!, field, value)
      .pexpire(key, ANSWERS_TTL_MS)
      .exec();
    const failed = results?.find(([error]) => error !== null)?.[0];
    if (failed) throw failed;
  }

  /**
   * Writes as {@linkcode tell} does, but only while the node holds the job
   * (its lock is `token`): resolves with whether it did.
   */
  async tellIfHeld(
    job: BullJob<ClusterJobData>,
    token: string,
    field: AnswerField,
    value: string,
  ): Promise<boolean> {
    const client = job.data.c;
    if (typeof client !== "string" || !CLIENT_ID.test(client)) return true;
    const key = answersKey(this.#queue, client);
    const lock = lockKey(this.#queue, job.id!);
    const ttl = this.#expires(key) ? String(ANSWERS_TTL_MS) : "";
    return await this.#connection.eval(
      XADD_IF_HELD,
      2,
      lock,
      key,
      token,
      job.id!,
      field,
      value,
      ttl,
    ) ===
      1;
  }

  /** Whether the stream `key`'s time to live is to be set again now (now and then, not each time). */
  #expires(key: string): boolean {
    const now = Date.now();
    if ((this.#expiring.get(key) ?? 0) > now) return false;
    if (this.#expiring.size >= MAX_CLIENTS_KNOWN) this.#expiring.clear();
    this.#expiring.set(key, now + ANSWERS_TTL_MS / 60);
    return true;
  }
}
