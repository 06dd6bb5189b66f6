/**
 * Main thread, the cluster's client: its own stream of answers, read with a
 * blocking read on a connection of its own and trimmed once read, and the
 * check of its jobs against what Redis holds. Nodes write each answer there
 * before the job completes, so a job that Redis no longer holds either has
 * its answer in the stream or was lost with Redis's data.
 *
 * @module
 */

import type { RedisClient } from "./redis.ts";
import type { AnswerField } from "./protocol.ts";
import { clientPresenceLua } from "./presence.ts";

/** What the inbox tells the engine. */
export interface InboxNotices {
  /** A node wrote `field` (`value`) for the job `id`; the same entry may be heard twice. */
  heard(id: string, field: AnswerField, value: string): void;
  /**
   * These jobs, in Redis when the check began, are there no more and left no
   * answer: Redis lost them. `dataLost`: Redis lost what it held (its epoch
   * changed), not only these.
   */
  lost(ids: string[], dataLost: boolean): void;
  /** Redis refused to let this client read its answers: nothing can end its requests. */
  broken(error: Error): void;
  /** The jobs Redis should hold, as far as the client knows: what a check asks about. */
  jobs(): JobsInRedis;
  /** Whether the client has requests in Redis. */
  waiting(): boolean;
  /** The ids of the nodes the client saw at its last check. */
  knownNodes(): string[];
  /**
   * What a check found of the nodes: those present (each its key's JSON),
   * and which of the known ones left gracefully.
   */
  nodes(present: string[], left: string[]): void;
}

/** Where a client's presence and the nodes' are kept, and who the client is. */
export interface PresenceKeys {
  /** The client's id. */
  client: string;
  /** The sorted set of the queue's clients. */
  clients: string;
  /** The sorted set of the queue's nodes. */
  nodes: string;
  /** A node's key, but for its id. */
  nodePrefix: string;
  /** Milliseconds the client's presence lasts once renewed. */
  lease: number;
}

/** The most entries one read takes. */
const READ_COUNT = 1000;

/** Milliseconds a read blocks before it is made again (and what a close may wait for it). */
const READ_BLOCK_MS = 1000;

/**
 * Milliseconds between two checks of the jobs in Redis, while there are any:
 * the longest a request whose job Redis lost without a restart (an
 * eviction, say) waits before it is sent again or fails.
 */
export const CHECK_MS = 5000;

/** Milliseconds before a failed read is tried again. */
const RETRY_MS = 100;

/**
 * What has been read is removed from the stream once this many entries are
 * read since the last removal, or this many milliseconds have passed: one
 * command per read would cost Redis as much as the reads themselves.
 */
const TRIM_ENTRIES = 256;
const TRIM_MS = 200;

/**
 * The check, in one step so that nothing changes between its parts: the
 * epoch (set if missing), which of the jobs no longer exist, and the
 * entries written after `after` (all of them, if the epoch is not the one
 * the client knew: a new stream's entries may have lower ids).
 */
const CHECK_SCRIPT = `
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  redis.call('SET', KEYS[1], ARGV[2])
  epoch = ARGV[2]
end
local missing = {}
for i = 3, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then missing[#missing + 1] = i - 3 end
end
local from = '-'
if epoch == ARGV[1] then from = '(' .. ARGV[3] end
return {epoch, missing, redis.call('XRANGE', KEYS[2], from, '+')}
`;

/** The client's presence renewed, and the nodes' read (`presence.ts`). */
const RENEW_SCRIPT =
  clientPresenceLua("KEYS[1]", "KEYS[2]", "ARGV[1]", "ARGV[2]", "ARGV[3]", "ARGV[4]") +
  "return {nodes, left}";

/** A stream entry as Redis returns it: its id, and its fields and values in turn. */
type Entry = [id: string, fields: string[]];

const REFUSED = /NOPERM|NOAUTH|WRONGPASS/;

/** A client's stream of answers, and the check of its jobs. */
export class Inbox {
  readonly #key: string;
  readonly #epochKey: string;
  readonly #presence: PresenceKeys;
  readonly #notices: InboxNotices;
  /** The id of the last entry read: the next read starts after it. */
  #last = "0-0";
  /** Entries read since the stream was last trimmed, and when that was. */
  #untrimmed = 0;
  #trimmedAt = 0;
  /** Redis's epoch as this client last saw it; "" before the first check. */
  #epoch = "";
  /** Counts starts and stops: a read loop of an older one ends. */
  #generation = 0;
  #command: RedisClient | null = null;
  #checkTimer: ReturnType<typeof setTimeout> | undefined;
  #renewTimer: ReturnType<typeof setInterval> | undefined;
  #checking = false;
  /** A check was asked for while one ran: another follows it. */
  #checkAgain = false;

  /**
   * @param key The client's stream.
   * @param epochKey The key whose value changes when Redis loses its data.
   * @param presence Where the client's presence and the nodes' are kept.
   */
  constructor(key: string, epochKey: string, presence: PresenceKeys, notices: InboxNotices) {
    this.#key = key;
    this.#epochKey = epochKey;
    this.#presence = presence;
    this.#notices = notices;
  }

  /**
   * Connected: reads the stream on `reader`, and checks the jobs on
   * `command` now (which first tells Redis the client is present, before
   * any job it adds on that connection), then every {@linkcode CHECK_MS}
   * while it has jobs in Redis.
   */
  start(command: RedisClient, reader: RedisClient): void {
    const generation = ++this.#generation;
    this.#command = command;
    void this.#read(reader, generation);
    void this.#renew(command, generation);
    void this.check();
    clearInterval(this.#renewTimer);
    this.#renewTimer = setInterval(() => {
      if (this.#notices.waiting()) void this.#renew(command, generation);
    }, this.#presence.lease / 3);
    Deno.unrefTimer(this.#renewTimer as unknown as number);
  }

  /**
   * Tells Redis the client is here, for its lease, and hears which nodes are:
   * when it connects (before any job it adds on that connection), and every
   * third of its lease while it has requests in Redis.
   */
  async #renew(command: RedisClient, generation: number): Promise<void> {
    const presence = this.#presence;
    try {
      const [nodes, left] = await command.eval(
        RENEW_SCRIPT,
        2,
        presence.clients,
        presence.nodes,
        presence.client,
        presence.lease,
        this.#notices.knownNodes().join(" "),
        presence.nodePrefix,
      ) as [string[], string[]];
      if (generation === this.#generation) this.#notices.nodes(nodes, left);
    } catch {
      // Redis away, or refusing: the check says what matters of it.
    }
  }

  /** Stops reading and checking (the connections are being closed). */
  stop(): void {
    this.#generation++;
    clearInterval(this.#renewTimer);
    this.#renewTimer = undefined;
    this.#command = null;
    this.#checkAgain = false;
    clearTimeout(this.#checkTimer);
    this.#checkTimer = undefined;
  }

  /** There are jobs in Redis: a check comes within {@linkcode CHECK_MS}. */
  watch(): void {
    if (this.#checkTimer !== undefined || this.#command === null) return;
    this.#checkTimer = setTimeout(() => {
      this.#checkTimer = undefined;
      void this.check();
    }, CHECK_MS);
    // Open connections keep a script alive while it waits; the check's timer must not.
    Deno.unrefTimer(this.#checkTimer as unknown as number);
  }

  async #read(reader: RedisClient, generation: number): Promise<void> {
    while (generation === this.#generation) {
      let reply: [string, Entry[]][] | null;
      try {
        reply = await reader.xread(
          "COUNT",
          READ_COUNT,
          "BLOCK",
          READ_BLOCK_MS,
          "STREAMS",
          this.#key,
          this.#last,
        ) as [string, Entry[]][] | null;
      } catch (error) {
        if (generation !== this.#generation) return;
        if (REFUSED.test((error as Error)?.message)) {
          this.#notices.broken(error as Error);
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
        continue;
      }
      if (generation !== this.#generation) continue;
      const entries = reply?.[0]?.[1] ?? [];
      if (entries.length > 0) {
        this.#hear(entries);
        this.#last = entries.at(-1)![0];
        this.#untrimmed += entries.length;
      }
      this.#trim(entries.length === 0);
    }
  }

  /** Removes what has been read, now and then, or now that the stream has gone quiet. */
  #trim(quiet: boolean): void {
    if (this.#untrimmed === 0) return;
    const now = performance.now();
    if (!quiet && this.#untrimmed < TRIM_ENTRIES && now - this.#trimmedAt < TRIM_MS) return;
    this.#untrimmed = 0;
    this.#trimmedAt = now;
    // Everything up to the last entry read; sent again and again, this stays correct.
    this.#command?.xtrim(this.#key, "MINID", after(this.#last)).catch(() => {});
  }

  #hear(entries: Entry[]): void {
    for (const [, fields] of entries) {
      // Fields: "j", the job's id, then one of "a", "s", "l" and its value.
      if (fields[0] === "j" && fields.length >= 4) {
        this.#notices.heard(fields[1]!, fields[2] as AnswerField, fields[3]!);
      }
    }
  }

  /**
   * Asks Redis what it holds of this client's jobs: those gone without an
   * answer are reported lost. Runs after a reconnect and every
   * {@linkcode CHECK_MS} while jobs are in Redis.
   */
  async check(): Promise<void> {
    const command = this.#command;
    if (command === null) return;
    if (this.#checking) {
      // That one may have been answered by the Redis before a restart.
      this.#checkAgain = true;
      return;
    }
    this.#checking = true;
    this.#checkAgain = false;
    const generation = this.#generation;
    const { ids, keys } = this.#notices.jobs();
    try {
      const fresh = crypto.randomUUID();
      const [epoch, missing, entries] = await command.eval(
        CHECK_SCRIPT,
        2 + keys.length,
        this.#epochKey,
        this.#key,
        ...keys,
        this.#epoch,
        fresh,
        this.#last,
      ) as [string, number[], Entry[]];
      if (generation !== this.#generation) return;
      const dataLost = this.#epoch !== "" && epoch !== this.#epoch;
      if (dataLost) this.#last = "0-0";
      this.#epoch = epoch;
      this.#hear(entries);
      if (missing.length > 0 || dataLost) {
        this.#notices.lost(missing.map((at) => ids[at]!), dataLost);
      }
    } catch (error) {
      if (REFUSED.test((error as Error)?.message)) this.#notices.broken(error as Error);
    } finally {
      this.#checking = false;
      // A check asked for meanwhile (after a reconnect, say) runs now, on the connection of now.
      if (this.#checkAgain) void this.check();
      else if (generation === this.#generation && ids.length > 0) this.watch();
    }
  }
}

/** The jobs a check asks about: their ids, and their keys in Redis, in the same order. */
export interface JobsInRedis {
  ids: string[];
  keys: string[];
}

/** The smallest stream id after `id`. */
function after(id: string): string {
  const [ms, seq] = id.split("-");
  return `${ms}-${Number(seq) + 1}`;
}
