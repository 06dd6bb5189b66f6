/**
 * Main thread, a cluster node: a stream's job. The node runs the task on its
 * own pool as a stream, and writes its values to the client's stream of
 * answers only as the client gives room: the task is never more ahead of the
 * client's reader than the client's room and the node pool's own window.
 * Values made without a real wait between them go in one entry.
 *
 * @module
 */

import { WorkerLostError } from "../core/errors.ts";
import type { ThreadPool } from "../thread_pool.ts";
import { decode, DEFAULT_MAX_PAYLOAD, encode } from "./codec.ts";
import { type ClusterJobData, creditKey, STREAM_TTL_S, streamedKey } from "./protocol.ts";
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

/** How a node's stream reaches its client. */
export interface StreamIO {
  /** Writes an entry of values (encoded `[seq, values]`) to the client's stream, in order. */
  write(encoded: string): void;
  /** Says, before the first entry, that the stream has sent values (awaited). */
  began(): Promise<void>;
  /** The room the client has given beyond the first, read from Redis; null if it cannot be. */
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
): Promise<void> {
  const args = decode(data.a) as unknown[];
  const options = {
    signal,
    highWaterMark: data.w ?? 1,
    ...(data.t !== undefined && { timeout: data.t }),
    ...(onProgress !== undefined && { onProgress }),
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
      io.write(encoded);
    });
    return written;
  };
  try {
    for (;;) {
      if (sent + entry.length >= granted) {
        await flush();
        // Told by a message as a rule; read from Redis when none came in time.
        const told = await io.roomChanged(RECHECK_MS);
        const room = told ?? await io.room();
        if (room !== null) granted = Math.max(granted, (data.s ?? 0) + room);
        signal.throwIfAborted();
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
  } catch (error) {
    // The task's own failure follows the values it made before it; an abort drops them.
    if (!signal.aborted) await flush().catch(() => {});
    // Whatever stopped the sending stops the task too (an abort has already).
    await reader.cancel(error).catch(() => {});
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
 * A stream job's way to its client: entries on the client's stream (`tell`),
 * its room read from Redis (`control`), more room heard of through `rooms`.
 */
export function streamIO(
  queue: string,
  jobId: string,
  control: RedisClient,
  tell: (encoded: string) => void,
  rooms: RoomSignals,
): StreamIO {
  rooms.begin(jobId);
  return {
    write: tell,
    began: async () => {
      await control.set(streamedKey(queue, jobId), "1", "EX", STREAM_TTL_S);
    },
    room: () => control.get(creditKey(queue, jobId)).then((room) => Number(room ?? 0), () => null),
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
