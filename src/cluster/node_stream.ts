/**
 * Main thread, a cluster node: a stream's job. The node runs the task on its
 * own pool as a stream, and writes its values to the client's stream of
 * answers only as the client gives room: the task is never more ahead of the
 * client's reader than the client's room and the node pool's own window.
 * Values made without a real wait between them go in one entry.
 *
 * @module
 */

import { ON_START } from "../core/job.ts";
import { WorkerLostError } from "../core/errors.ts";
import type { ThreadPool } from "../thread_pool.ts";
import { decode, DEFAULT_MAX_PAYLOAD, encode } from "./codec.ts";
import { type ClusterJobData, creditKey, lockKey, STREAM_TTL_S, streamedKey } from "./protocol.ts";
import type { RedisClient } from "./redis.ts";

/** At most this many values go in one entry. */
const MAX_ENTRY = 1_024;
/** How often a node waiting for room reads it again, in case a message was missed (ms). */
const RECHECK_MS = 250;
/**
 * How long values wait for more before they leave as an entry (ms): an
 * entry, a Redis write, costs far more than a value, and the node's own
 * pool hands values over in steps with short waits between them.
 */
const ENTRY_WAIT_MS = 1;

/**
 * The node no longer holds the stream's job: Redis lost it, or, this node
 * having fallen silent past its lease, it went to another. The task is
 * stopped, and nothing is sent: the job is not this node's to answer.
 */
export class JobNotHeld extends Error {
  override name = "JobNotHeld";
}

/**
 * How a node's stream reaches its client. Each call that reaches Redis
 * does so only while the node holds the job.
 */
export interface StreamIO {
  /**
   * Writes an entry of values (encoded `[seq, values]`) to the client's
   * stream, in the order of the calls; resolves false if the node no longer
   * holds the job (and Redis took nothing).
   */
  write(encoded: string): Promise<boolean>;
  /**
   * Says, before the first entry, that the stream has sent values (awaited).
   *
   * @throws {JobNotHeld} When the node no longer holds the job.
   */
  began(): Promise<void>;
  /**
   * The room the client has given beyond the first, read from Redis; null
   * if it cannot be.
   *
   * @throws {JobNotHeld} When the node no longer holds the job.
   */
  room(): Promise<number | null>;
  /** Resolves with the room a message said the client gave, or with null after `ms`. */
  roomChanged(ms: number): Promise<number | null>;
  /** The stream has ended here. */
  end(): void;
}

/** Runs a stream's job on `pool` and sends its values through `io`; resolves when it has ended. */
export async function streamOn(
  pool: ThreadPool,
  data: ClusterJobData,
  module: string,
  signal: AbortSignal,
  io: StreamIO,
  onProgress?: (value: unknown) => void,
  onStart?: () => void,
): Promise<void> {
  const args = decode(data.a) as unknown[];
  // Stopped by the client's cancel, or by finding that the job is no longer this node's.
  const held = new AbortController();
  const stopped = AbortSignal.any([signal, held.signal]);
  const lost = () => held.abort(new JobNotHeld("This node no longer holds the stream's job"));
  const options = {
    signal: stopped,
    highWaterMark: data.w ?? 1,
    ...(data.t !== undefined && { timeout: data.t }),
    ...(onProgress !== undefined && { onProgress }),
    ...(onStart !== undefined && { [ON_START]: onStart }),
  };
  const reader = pool.stream({ module, name: data.n }, args as never, options).getReader();
  let granted = data.s ?? 0;
  let sent = 0;
  let seq = 0;
  const entry: unknown[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  let first: Promise<void> | null = null;
  // Entries are written one after another, each once the stream is known to have begun (lost
  // after it, not run again): awaiting the last write awaits them all.
  let written: Promise<void> = Promise.resolve();
  // Whether Redis took the last entry: once one is refused, so is every later one.
  let lastWritten: Promise<boolean> = Promise.resolve(true);
  const flush = (): Promise<void> => {
    clearTimeout(timer);
    timer = undefined;
    if (entry.length === 0) return written;
    const values = entry.splice(0);
    sent += values.length;
    const at = seq++;
    // A failure (values too large, Redis refusing) rejects this and every later write.
    written = written.then(async () => {
      const encoded = encode([at, values], "a stream's values", DEFAULT_MAX_PAYLOAD);
      first ??= io.began();
      await first;
      // Not awaited: entries follow each other on one connection.
      lastWritten = io.write(encoded).then((taken) => taken || (lost(), false), () => true);
    });
    return written;
  };
  try {
    for (;;) {
      if (sent + entry.length >= granted) {
        await flush();
        // Told by a message as a rule; read from Redis when none came in time.
        const told = await io.roomChanged(RECHECK_MS);
        const room = told ?? await io.room().catch((error) => {
          if (error instanceof JobNotHeld) lost();
          return null;
        });
        if (room !== null) granted = Math.max(granted, (data.s ?? 0) + room);
        stopped.throwIfAborted();
        continue;
      }
      const next = reader.read();
      // Values made since the last real wait leave once this read turns out to be one.
      // (A failure is met again by the next flush the loop awaits.)
      if (entry.length > 0) timer ??= setTimeout(() => flush().catch(() => {}), ENTRY_WAIT_MS);
      const { done, value } = await next;
      if (done) break;
      entry.push(value);
      if (entry.length >= MAX_ENTRY) await flush();
    }
    await flush();
    // The job's end is told only if all its values went: otherwise they were not this node's to send.
    if (!await lastWritten) throw held.signal.reason;
  } catch (error) {
    // The task's own failure follows the values it made before it; an abort drops them.
    if (!stopped.aborted) await flush().catch(() => {});
    // Whatever stopped the sending stops the task too (an abort has already).
    await reader.cancel(error).catch(() => {});
    // Values refused: the job is not this node's to answer, whatever else happened.
    if (!await lastWritten) throw held.signal.reason;
    throw error;
  } finally {
    clearTimeout(timer);
    io.end();
  }
}

/** What a node has heard of its streams' room: `pull:<jobId>` messages, waited for. */
export class RoomSignals {
  readonly #waiting = new Map<string, (room: number | null) => void>();
  /** The room heard of for each stream running here, while nothing waited for it. */
  readonly #heard = new Map<string, number>();

  /** A client's message: `<jobId>:<room>`. */
  heard(message: string): void {
    const at = message.lastIndexOf(":");
    const id = message.slice(0, at);
    const room = Number(message.slice(at + 1));
    if (!Number.isSafeInteger(room)) return;
    const waiting = this.#waiting.get(id);
    if (waiting !== undefined) waiting(room);
    // Every node hears every client's messages: only this node's streams are kept in mind.
    else if (this.#heard.has(id) && room > this.#heard.get(id)!) this.#heard.set(id, room);
  }

  /** A stream's job begins here. */
  begin(id: string): void {
    this.#heard.set(id, -1);
  }

  /** Resolves with the room heard of for job `id`, or with null after `ms`. */
  wait(id: string, ms: number): Promise<number | null> {
    const heard = this.#heard.get(id) ?? -1;
    if (heard >= 0) {
      this.#heard.set(id, -1);
      return Promise.resolve(heard);
    }
    return new Promise((resolve) => {
      const done = (room: number | null): void => {
        clearTimeout(timer);
        this.#waiting.delete(id);
        resolve(room);
      };
      const timer = setTimeout(() => done(null), ms);
      this.#waiting.set(id, done);
    });
  }

  /** Job `id` has ended here. */
  forget(id: string): void {
    this.#heard.delete(id);
  }
}

/**
 * Marks a stream as having sent values, while the node holds its job. KEYS:
 * the job's lock, the stream's mark. ARGV: the node's token, the mark's
 * time to live in seconds. 1 if marked.
 */
const MARK_IF_HELD = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], '1', 'EX', ARGV[2])
return 1`;

/**
 * The room a stream's client has given, while the node holds its job (-1
 * when not). KEYS: the job's lock, the stream's room. ARGV: the node's token.
 */
const ROOM_IF_HELD = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
return tonumber(redis.call('GET', KEYS[2]) or '0')`;

/**
 * A stream job's way to its client: entries on the client's stream (`tell`),
 * its room read from Redis (`control`), more room heard of through `rooms`.
 */
export function streamIO(
  queue: string,
  jobId: string,
  token: string,
  control: RedisClient,
  tell: (encoded: string) => Promise<boolean>,
  rooms: RoomSignals,
): StreamIO {
  rooms.begin(jobId);
  return {
    write: tell,
    began: async () => {
      const keys = [lockKey(queue, jobId), streamedKey(queue, jobId)];
      if (await control.eval(MARK_IF_HELD, 2, ...keys, token, STREAM_TTL_S) !== 1) {
        throw new JobNotHeld("This node no longer holds the stream's job");
      }
    },
    room: async () => {
      const keys = [lockKey(queue, jobId), creditKey(queue, jobId)];
      let room: unknown;
      try {
        room = await control.eval(ROOM_IF_HELD, 2, ...keys, token);
      } catch {
        return null;
      }
      if (room === -1) throw new JobNotHeld("This node no longer holds the stream's job");
      return Number(room);
    },
    roomChanged: (ms) => rooms.wait(jobId, ms),
    end: () => rooms.forget(jobId),
  };
}

/**
 * Whether a stream's job must not run here: it was lost with a node after
 * that node had sent values (they would arrive twice). Then its error.
 */
export async function streamedBefore(
  queue: string,
  jobId: string,
  control: RedisClient,
): Promise<WorkerLostError | undefined> {
  if (await control.get(streamedKey(queue, jobId)) === null) return undefined;
  return new WorkerLostError(
    "The node streaming this request was lost after it had sent values: a stream never runs again",
  );
}
