/**
 * Main thread, a cluster node: turns to start jobs under a queue's rate
 * limits, shared with every other node through Redis. A node asks Redis for
 * a turn (one script: Redis's own clock, every limit of the job at once);
 * the turn counts against each limit as given until the node confirms the
 * start, and from then on at the time Redis heard of it: never earlier than
 * the task really started, however late its thread began. The `max`-th turn
 * after one not yet confirmed waits for it, so no window of `per` ms holds
 * more than `max` starts, across every node and client.
 *
 * @module
 */

import { rateKeys } from "./protocol.ts";
import type { RedisClient } from "./redis.ts";

/** One of a job's limits, as it carries them: its key ("": the queue's own), `max` and `per`. */
export type JobLimit = [key: string, max: number, per: number];

/** Milliseconds a node waits to ask again when turns given are waiting for their confirmation. */
const CONFIRM_POLL_MS = 2;

/**
 * Milliseconds ahead of its start a turn is asked for: a node's ask takes a
 * round trip to Redis, and one given early waits here to start on time, so
 * that starts stay evenly spaced.
 */
const AHEAD_MS = 5;

/** Milliseconds a node waits to ask again when Redis did not answer. */
const REDIS_AWAY_MS = 100;

/**
 * Gives up to `n` turns under every limit of `KEYS` (three per limit: the
 * confirmed starts, the turns given, when the next is due), as many as each
 * limit allows by `ahead` ms from now. ARGV: the turns' ids' stem (each is
 * the stem, a colon and its index from 1), `n`, how long a given turn counts
 * unconfirmed (ms; at least two windows and their slack, so that a node that
 * dies between a task's start and its confirmation leaves it counted for a
 * window after the start: a turn starts within half that or is asked for
 * again), `ahead`, then `max` and `per` of each limit. Each limit spaces its
 * turns `per / max` apart (one may come early by its slack, so that starts a
 * late timer held back catch up), and gives one only while fewer than `max`
 * starts were confirmed within a window and its slack before it, every turn
 * given and not confirmed counted too. Returns how many it gave, when to ask
 * again for the others (ms from now), and when each given turn's start is
 * due (ms from now).
 */
const TAKE = `
local fmt = function(x) return string.format('%.3f', x) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local stem, n, ahead = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[4])
local limits = {}
for i = 0, #KEYS / 3 - 1 do
  local max, per = tonumber(ARGV[5 + 2 * i]), tonumber(ARGV[6 + 2 * i])
  local slack = math.min(10, per * 0.05)
  local starts, given = KEYS[3 * i + 1], KEYS[3 * i + 2]
  redis.call('ZREMRANGEBYSCORE', given, '-inf', fmt(now))
  redis.call('ZREMRANGEBYSCORE', starts, '-inf', fmt(now - per - slack))
  limits[i + 1] = { max = max, per = per, slack = slack, starts = starts, given = given,
    due = KEYS[3 * i + 3], next = tonumber(redis.call('GET', KEYS[3 * i + 3])),
    held = redis.call('ZCARD', given),
    expiry = math.max(tonumber(ARGV[3]), 2 * (per + slack)) }
end
local at = {}
local wait = 0
while #at < n and wait == 0 do
  local when = now
  for _, l in ipairs(limits) do
    if l.next ~= nil then when = math.max(when, l.next - l.slack) end
  end
  if when - now > ahead then
    wait = when - now - ahead
  else
    for _, l in ipairs(limits) do
      local from = '(' .. fmt(when - l.per - l.slack)
      local counted = redis.call('ZCOUNT', l.starts, from, '+inf')
      local held = l.held + #at
      if counted + held >= l.max then
        if held >= l.max then
          wait = math.max(wait, ${CONFIRM_POLL_MS})
        else
          local oldest = redis.call('ZRANGEBYSCORE', l.starts, from, '+inf', 'WITHSCORES',
            'LIMIT', counted + held - l.max, 1)
          wait = math.max(wait, tonumber(oldest[2]) + l.per + l.slack - now, 0.001)
        end
      end
    end
    if wait == 0 then
      at[#at + 1] = when
      for _, l in ipairs(limits) do l.next = math.max(l.next or when, when) + l.per / l.max end
    end
  end
end
local reply = { #at, fmt(wait) }
for i, when in ipairs(at) do reply[i + 2] = fmt(when - now) end
if #at == 0 then return reply end
for _, l in ipairs(limits) do
  local ttl = math.ceil(l.per + l.expiry + 1000)
  for i = 1, #at do redis.call('ZADD', l.given, fmt(now + l.expiry), stem .. ':' .. i) end
  redis.call('PEXPIRE', l.given, ttl)
  redis.call('SET', l.due, fmt(l.next), 'PX', ttl)
end
return reply`;

/**
 * Counts turns' starts now, by Redis's clock, under each limit of `KEYS`
 * (three per limit, as for {@linkcode TAKE}); ARGV: how many turns, their
 * ids, then how long each limit's starts are kept (ms).
 */
const STARTED = `
local t = redis.call('TIME')
local now = string.format('%.3f', tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000)
local n = tonumber(ARGV[1])
for i = 0, #KEYS / 3 - 1 do
  for j = 2, n + 1 do
    redis.call('ZREM', KEYS[3 * i + 2], ARGV[j])
    redis.call('ZADD', KEYS[3 * i + 1], now, ARGV[j])
  end
  redis.call('PEXPIRE', KEYS[3 * i + 1], ARGV[n + 2 + i])
end`;

/** Gives back turns that were never used, under each limit of `KEYS`; ARGV: their ids. */
const UNUSED = `
for i = 0, #KEYS / 3 - 1 do
  for j = 1, #ARGV do redis.call('ZREM', KEYS[3 * i + 2], ARGV[j]) end
end`;

/** The most turns a node asks for at once, for jobs waiting under the same limits. */
const MAX_ASK = 64;

/** Whether `value` is what a job carries as its rate limits: `[key, max, per]` each, checked as a client checks them. */
export function isJobLimits(value: unknown): value is JobLimit[] {
  return Array.isArray(value) && value.length > 0 &&
    value.every((limit) =>
      Array.isArray(limit) && limit.length === 3 && typeof limit[0] === "string" &&
      Number.isSafeInteger(limit[1]) && limit[1] >= 1 && typeof limit[2] === "number" &&
      limit[2] > 0 && limit[2] <= 2 ** 31 - 1
    );
}

/** A turn given to a job: it starts under its limits, once, or is given back. */
export interface RateTurn {
  readonly id: string;
  readonly line: Line;
  /** When it was given, on the node's clock. */
  readonly given: number;
  /** Whether its start was counted, or it was given back: nothing more to tell. */
  done: boolean;
}

/** A job waiting for its turn. */
interface Waiter {
  resolve(turn: RateTurn | null): void;
  reject(reason: unknown): void;
  signal: AbortSignal;
  /** Takes it out of its line when its signal aborts. */
  aborted(): void;
}

/** The jobs on this node waiting under one set of limits, and the starts to confirm under them. */
interface Line {
  /** Its limits, as the lines are keyed. */
  readonly same: string;
  readonly keys: string[];
  /** `max` and `per` of each limit, as the scripts take them. */
  readonly limits: string[];
  /** How long each limit's starts are kept in Redis (ms), as {@linkcode STARTED} takes them. */
  readonly kept: string[];
  readonly waiters: Waiter[];
  /** Whether the line is asking Redis for turns. */
  asking: boolean;
  /** Turns started since the last confirmation was sent. */
  started: string[];
}

/**
 * A node's turns under its queue's rate limits. Jobs under the same limits
 * wait in one line, in the order they asked; the line asks Redis for as many
 * turns as it has jobs waiting (up to {@linkcode MAX_ASK}), one script each
 * time, and the starts of a moment are confirmed together.
 */
export class RateTurns {
  readonly #queue: string;
  readonly #redis: RedisClient;
  /** How long a turn given counts before its start is confirmed: the node's lease. */
  readonly #expiry: number;
  readonly #prefix: string;
  #next = 0;
  #closed = false;
  /** Jobs asking for a turn now. */
  #waiting = 0;
  /** The lines, by their limits. */
  readonly #lines = new Map<string, Line>();
  /** What wakes each pause, when the node closes. */
  readonly #wakers = new Set<() => void>();

  /**
   * @param node The node's id: turn ids are unique across nodes.
   * @param expiry Milliseconds a turn given counts unconfirmed: a node lost past it (its lease)
   * frees the turns it held.
   */
  constructor(queue: string, redis: RedisClient, node: string, expiry: number) {
    this.#queue = queue;
    this.#redis = redis;
    this.#prefix = `${node}:`;
    this.#expiry = expiry;
  }

  /** How many jobs are waiting for their turn. */
  get waiting(): number {
    return this.#waiting;
  }

  /** Whether `turn` was given so long ago that Redis may have stopped counting it. */
  stale(turn: RateTurn): boolean {
    return performance.now() - turn.given > this.#expiry / 2;
  }

  /**
   * Resolves once the job may start under every one of `limits`, on this
   * node in the order asked; `null` if the node closes first.
   *
   * @throws {unknown} `signal`'s reason, when it aborts first.
   */
  take(limits: readonly JobLimit[], signal: AbortSignal): Promise<RateTurn | null> {
    if (this.#closed) return Promise.resolve(null);
    if (signal.aborted) return Promise.reject(signal.reason);
    const line = this.#line(limits);
    this.#waiting++;
    return new Promise<RateTurn | null>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        aborted: () => {
          const at = line.waiters.indexOf(waiter);
          if (at >= 0) line.waiters.splice(at, 1);
          reject(signal.reason);
        },
      };
      signal.addEventListener("abort", waiter.aborted, { once: true });
      line.waiters.push(waiter);
      this.#ask(line);
    }).finally(() => this.#waiting--);
  }

  /** The job of `turn` started: it counts from now under its limits. */
  started(turn: RateTurn): void {
    if (turn.done) return;
    turn.done = true;
    const { line } = turn;
    // The starts of one moment are confirmed together, at the end of it.
    if (line.started.push(turn.id) === 1) queueMicrotask(() => this.#confirm(line));
  }

  /** The job of `turn` did not start and will not: its turn is free for another. */
  unused(turn: RateTurn): void {
    if (turn.done) return;
    turn.done = true;
    this.#redis.eval(UNUSED, turn.line.keys.length, ...turn.line.keys, turn.id).catch(() => {});
  }

  /** Jobs waiting for a turn get none (`null`), and so does any that asks later. */
  close(): void {
    this.#closed = true;
    for (const wake of this.#wakers) wake();
    for (const line of this.#lines.values()) {
      for (const waiter of line.waiters.splice(0)) this.#give(waiter, null);
    }
  }

  /** The line of jobs under `limits`. */
  #line(limits: readonly JobLimit[]): Line {
    const same = JSON.stringify(limits);
    let line = this.#lines.get(same);
    if (line === undefined) {
      line = {
        same,
        keys: limits.flatMap(([key]) => rateKeys(this.#queue, key)),
        limits: limits.flatMap(([, max, per]) => [String(max), String(per)]),
        kept: limits.map(([, , per]) => String(Math.ceil(per + 1000))),
        waiters: [],
        asking: false,
        started: [],
      };
      this.#lines.set(same, line);
    }
    return line;
  }

  /** Asks Redis for turns for the jobs waiting in `line`, until none is left. */
  async #ask(line: Line): Promise<void> {
    if (line.asking) return;
    line.asking = true;
    try {
      while (line.waiters.length > 0 && !this.#closed) {
        const n = Math.min(line.waiters.length, MAX_ASK);
        const stem = this.#prefix + String(this.#next++);
        const args = [stem, String(n), String(this.#expiry), String(AHEAD_MS), ...line.limits];
        let reply: [number, string, ...string[]];
        try {
          reply = await this.#redis.eval(TAKE, line.keys.length, ...line.keys, ...args) as [
            number,
            string,
            ...string[],
          ];
        } catch (error) {
          // Redis refusing the script (an ACL without the rate keys) fails the jobs waiting; one
          // away is asked again.
          if ((error as Error)?.name !== "ReplyError") {
            await this.#pause(REDIS_AWAY_MS);
            continue;
          }
          for (const waiter of line.waiters.splice(0)) this.#fail(waiter, error);
          break;
        }
        const [given, wait] = reply;
        const now = performance.now();
        for (let i = 1; i <= given; i++) {
          const turn: RateTurn = { id: `${stem}:${i}`, line, given: now, done: false };
          const waiter = line.waiters.shift();
          if (waiter === undefined) this.unused(turn);
          else this.#startAt(waiter, turn, Number(reply[i + 1]));
        }
        if (given < n) await this.#pause(Number(wait));
      }
    } finally {
      line.asking = false;
    }
    // A turn keeps its line: one made again later for the same limits is another.
    if (line.waiters.length === 0 && this.#lines.get(line.same) === line) {
      this.#lines.delete(line.same);
    }
  }

  /** Gives `waiter` its `turn` once its start is due, `ms` from now. */
  #startAt(waiter: Waiter, turn: RateTurn, ms: number): void {
    if (ms <= 0) return this.#give(waiter, turn);
    const timer = setTimeout(() => {
      this.#wakers.delete(wake);
      this.#give(waiter, turn);
    }, ms);
    const wake = () => {
      clearTimeout(timer);
      this.#give(waiter, turn);
    };
    this.#wakers.add(wake);
  }

  /** Ends `waiter`'s wait with `turn`: unless its signal aborted or the node closed meanwhile. */
  #give(waiter: Waiter, turn: RateTurn | null): void {
    waiter.signal.removeEventListener("abort", waiter.aborted);
    if (turn !== null && (this.#closed || waiter.signal.aborted)) {
      this.unused(turn);
      if (waiter.signal.aborted) return waiter.reject(waiter.signal.reason);
      return waiter.resolve(null);
    }
    waiter.resolve(turn);
  }

  #fail(waiter: Waiter, error: unknown): void {
    waiter.signal.removeEventListener("abort", waiter.aborted);
    waiter.reject(error);
  }

  /** Confirms the starts of `line` since the last confirmation. */
  #confirm(line: Line): void {
    const ids = line.started.splice(0);
    if (ids.length === 0) return;
    const args = [String(ids.length), ...ids, ...line.kept];
    // Not heard: the turns count as given until they expire, which errs on the safe side.
    this.#redis.eval(STARTED, line.keys.length, ...line.keys, ...args).catch(() => {});
  }

  /** Waits `ms`, or less if the node closes. */
  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.#closed) return resolve();
      const wake = () => {
        clearTimeout(timer);
        this.#wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#wakers.add(wake);
    });
  }
}
