/**
 * Main thread, the front: how every option and argument of a public call is
 * checked, so that bad input is refused at the call that made it, with an
 * error that names what was wrong and quotes the value, before anything is
 * queued. A value of the wrong type is a `TypeError`; a number out of range
 * is a `RangeError`.
 *
 * @module
 */

import type { RateLimit } from "../core/rate_limit.ts";
import type { Retry } from "../core/retry.ts";
import type { RetryOptions } from "./options.ts";

/** A value as an error message quotes it: strings in quotes, so "4" is not 4. */
export function quote(value: unknown): string {
  const text = typeof value === "string"
    ? JSON.stringify(value)
    : typeof value === "bigint"
    ? `${value}n`
    : Deno.inspect(value, { depth: 1, breakLength: Infinity, colors: false });
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function typeError(action: string, name: string, wanted: string, value: unknown): TypeError {
  return new TypeError(
    `Cannot ${action} as '${name}' must be ${wanted}: current value is ${quote(value)}`,
  );
}

function rangeError(action: string, name: string, wanted: string, value: unknown): RangeError {
  return new RangeError(
    `Cannot ${action} as '${name}' must be ${wanted}: current value is ${quote(value)}`,
  );
}

/**
 * Checks a count: an integer from `min` to `max`.
 *
 * @throws {TypeError} When it is not a number.
 * @throws {RangeError} When it is not an integer from `min` to `max`.
 */
export function integer(
  action: string,
  name: string,
  value: unknown,
  min = 0,
  max = Infinity,
): number {
  const wanted = max !== Infinity
    ? `an integer from ${min} to ${max}`
    : min === 0
    ? "a non-negative integer"
    : `an integer of at least ${min}`;
  if (typeof value !== "number") throw typeError(action, name, wanted, value);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw rangeError(action, name, wanted, value);
  }
  return value;
}

/**
 * Checks a count: a non-negative integer.
 *
 * @throws {TypeError} When it is not a number.
 * @throws {RangeError} When it is not a non-negative integer.
 */
export function nonNegativeInteger(action: string, name: string, value: unknown): number {
  return integer(action, name, value, 0);
}

/**
 * Checks a duration in milliseconds: from 0 to {@linkcode MAX_DELAY_MS}, or
 * `Infinity` for no bound.
 *
 * @throws {TypeError} When it is not a number.
 * @throws {RangeError} When it is NaN, negative, or over {@linkcode MAX_DELAY_MS} but finite.
 */
export function milliseconds(action: string, name: string, value: unknown): number {
  if (typeof value !== "number") throw typeError(action, name, A_DURATION, value);
  if (Number.isNaN(value) || value < 0 || (value > MAX_DELAY_MS && value !== Infinity)) {
    throw rangeError(action, name, A_DURATION, value);
  }
  return value;
}

/**
 * The longest delay a timer keeps (2³¹−1 ms): a longer one fires at once.
 * A duration is at most this, or `Infinity` for no bound (and no timer).
 */
export const MAX_DELAY_MS = 2 ** 31 - 1;

/** What a duration must be, as a refusal says. */
const A_DURATION = `a number of milliseconds from 0 to ${MAX_DELAY_MS} (about 24.8 days), ` +
  "or Infinity for no bound";

/**
 * Checks an optional flag.
 *
 * @throws {TypeError} When it is set and not a boolean.
 */
export function flag(action: string, name: string, value: unknown): boolean | undefined {
  if (value !== undefined && typeof value !== "boolean") {
    throw typeError(action, name, "a boolean", value);
  }
  return value;
}

/**
 * Checks an optional text.
 *
 * @throws {TypeError} When it is set and not a string.
 */
export function text(action: string, name: string, value: unknown): string | undefined {
  if (value !== undefined && typeof value !== "string") {
    throw typeError(action, name, "a string", value);
  }
  return value;
}

/**
 * Checks an options argument: absent, or an object.
 *
 * @throws {TypeError} When it is something else.
 */
export function optionsArgument<T extends object>(
  action: string,
  name: string,
  value: T | undefined,
): T {
  if (value === undefined) return {} as T;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw typeError(action, name, "an object", value);
  }
  return value;
}

/**
 * Checks an optional callback: a function, or `null` for none.
 *
 * @throws {TypeError} When it is something else.
 */
export function callback(action: string, name: string, value: unknown): void {
  if (value !== undefined && value !== null && typeof value !== "function") {
    throw typeError(action, name, "a function or null", value);
  }
}

/**
 * Checks an argument list, an array, and returns a copy of it: from the call
 * on, the request's list is its own, whatever the caller then does with the
 * array (reuses it for the next call, empties it). A hole reads as
 * `undefined`, as it would when the list is spread into the call.
 *
 * @throws {TypeError} When it is something else.
 */
export function argumentList(action: string, name: string, value: unknown): readonly unknown[] {
  if (!Array.isArray(value)) throw typeError(action, name, "an array", value);
  return copyList(value);
}

/** A copy of a list's items, in a plain array of its own. */
export function copyList(list: readonly unknown[]): unknown[] {
  const length = list.length;
  const copy = new Array(length);
  for (let i = 0; i < length; i++) copy[i] = list[i];
  return copy;
}

/**
 * Checks that a value can be iterated: synchronously, or (with `async`) either way.
 *
 * @throws {TypeError} When it cannot.
 */
export function iterable(
  action: string,
  name: string,
  value: unknown,
  async: false,
): Iterable<unknown>;
export function iterable(
  action: string,
  name: string,
  value: unknown,
  async?: true,
): Iterable<unknown> | AsyncIterable<unknown>;
export function iterable(
  action: string,
  name: string,
  value: unknown,
  async = true,
): Iterable<unknown> | AsyncIterable<unknown> {
  const object = value as Record<symbol, unknown> | null | undefined;
  const sync = typeof object?.[Symbol.iterator] === "function";
  const either = sync || (async && typeof object?.[Symbol.asyncIterator] === "function");
  if (value === null || value === undefined || !either) {
    throw typeError(action, name, async ? "an iterable or async iterable" : "an iterable", value);
  }
  return value as Iterable<unknown> | AsyncIterable<unknown>;
}

/**
 * Checks how a call may end early (a signal, and a timeout) and when it
 * starts (its priority). It returns nothing, so that the hot path allocates
 * nothing for it.
 *
 * @throws {TypeError} When `signal` is not an AbortSignal, or `timeout` or `priority` not a number.
 * @throws {RangeError} When `timeout` is NaN or negative, or `priority` not an integer within ±{@linkcode MAX_PRIORITY}.
 */
export function cancelLimits(
  action: string,
  limits: {
    signal?: AbortSignal | undefined;
    timeout?: number | undefined;
    priority?: number | undefined;
  },
): void {
  const { signal, timeout, priority } = limits;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw typeError(action, "signal", "an AbortSignal", signal);
  }
  if (timeout !== undefined) milliseconds(action, "timeout", timeout);
  if (priority !== undefined) priorityOption(action, priority);
}

/**
 * Checks a priority: an integer within ±{@linkcode MAX_PRIORITY}.
 *
 * @throws {TypeError} When it is not a number.
 * @throws {RangeError} When it is not such an integer.
 */
export function priorityOption(action: string, value: unknown): number {
  return integer(action, "priority", value, -MAX_PRIORITY, MAX_PRIORITY);
}

/** The most attempts a retry policy may make. */
export const MAX_ATTEMPTS = 100;

/**
 * Checks a `retry` option and applies its defaults; undefined stays so.
 *
 * @throws {TypeError} When it is not an object, or one of its fields has the wrong type.
 * @throws {RangeError} When one of its numbers is out of range.
 */
export function retryOption(action: string, value: unknown): Retry | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw typeError(action, "retry", "an object such as { attempts: 3 }", value);
  }
  const given = value as RetryOptions;
  const attempts = integer(action, "retry.attempts", given.attempts, 1, MAX_ATTEMPTS);
  const delay = given.delay ?? 100;
  const maxDelay = given.maxDelay ?? 30_000;
  for (const [name, ms] of [["retry.delay", delay], ["retry.maxDelay", maxDelay]] as const) {
    if (milliseconds(action, name, ms) === Infinity) {
      throw rangeError(action, name, "a finite number of milliseconds", ms);
    }
  }
  const backoff = given.backoff ?? "exponential";
  if (backoff !== "fixed" && backoff !== "exponential") {
    throw typeError(action, "retry.backoff", '"fixed" or "exponential"', backoff);
  }
  const jitter = given.jitter ?? 0;
  if (typeof jitter !== "number") throw typeError(action, "retry.jitter", "a number", jitter);
  if (!(jitter >= 0 && jitter <= 1)) {
    throw rangeError(action, "retry.jitter", "a number from 0 to 1", jitter);
  }
  const timeouts = flag(action, "retry.timeouts", given.timeouts) ?? false;
  const { retryOn } = given;
  if (retryOn !== undefined && typeof retryOn !== "function") {
    throw typeError(action, "retry.retryOn", "a function", retryOn);
  }
  return { attempts, delay, backoff, maxDelay, jitter, timeouts, retryOn };
}

/**
 * Checks the pool's `rateLimit` and `rateLimits` options: the limits by
 * key, the pool's own under "".
 *
 * @throws {TypeError} When one is not an object of numbers.
 * @throws {RangeError} When `max` is not a positive integer, or `per` not a positive finite duration.
 */
export function rateLimitsOption(
  action: string,
  rateLimit: unknown,
  rateLimits: unknown,
): Map<string, RateLimit> {
  const limits = new Map<string, RateLimit>();
  const check = (name: string, value: unknown): RateLimit => {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw typeError(action, name, "an object such as { max: 100, per: 1000 }", value);
    }
    const { max, per } = value as RateLimit;
    integer(action, `${name}.max`, max, 1);
    if (typeof per !== "number") throw typeError(action, `${name}.per`, "a number", per);
    if (!(per > 0 && per <= MAX_DELAY_MS)) {
      throw rangeError(
        action,
        `${name}.per`,
        `a number of milliseconds above 0, up to ${MAX_DELAY_MS}`,
        per,
      );
    }
    return { max, per };
  };
  if (rateLimit !== undefined) limits.set("", check("rateLimit", rateLimit));
  if (rateLimits === undefined) return limits;
  if (typeof rateLimits !== "object" || rateLimits === null || Array.isArray(rateLimits)) {
    throw typeError(action, "rateLimits", "an object of limits by key", rateLimits);
  }
  for (const [key, limit] of Object.entries(rateLimits)) {
    if (key === "") throw rangeError(action, "rateLimits", "keyed by non-empty strings", key);
    limits.set(key, check(`rateLimits.${key}`, limit));
  }
  return limits;
}

/**
 * Checks a request's `rateKey`: one of the pool's `rateLimits` keys.
 *
 * @throws {TypeError} When it is not a string.
 * @throws {RangeError} When the pool has no limit of that key.
 */
export function rateKeyOption(
  action: string,
  value: unknown,
  limits: ReadonlyMap<string, RateLimit>,
): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw typeError(action, "rateKey", "a string", value);
  if (value === "" || !limits.has(value)) {
    const keys = [...limits.keys()].filter((key) => key !== "").map(quote);
    const wanted = keys.length === 0
      ? "a key of the pool's 'rateLimits' (it has none)"
      : `one of the pool's 'rateLimits' keys (${keys.join(", ")})`;
    throw rangeError(action, "rateKey", wanted, value);
  }
  return value;
}

/** The highest priority a request may have; the lowest is its negative. */
export const MAX_PRIORITY = 1_000_000;

const TRANSFERABLE = [ArrayBuffer, MessagePort, ReadableStream, WritableStream, TransformStream];

/**
 * Checks a transfer list: an array of distinct objects that can be
 * transferred, none of them already detached. A typed array is a common
 * slip for its buffer, and the message says so.
 *
 * @throws {TypeError} When it is not such a list.
 */
export function transferList(
  action: string,
  value: unknown,
  empty: readonly Transferable[],
): readonly Transferable[] {
  if (value === undefined) return empty;
  if (!Array.isArray(value)) throw typeError(action, "transfer", "an array", value);
  if (value.length === 0) return empty;
  const seen = new Set<unknown>();
  for (let i = 0; i < value.length; i++) {
    const item: unknown = value[i];
    const name = `transfer[${i}]`;
    if (ArrayBuffer.isView(item)) {
      throw typeError(action, name, "a transferable object (for a view, its .buffer)", item);
    }
    if (!TRANSFERABLE.some((kind) => item instanceof kind)) {
      throw typeError(
        action,
        name,
        "an ArrayBuffer, MessagePort, ReadableStream, WritableStream or TransformStream",
        item,
      );
    }
    if (item instanceof ArrayBuffer && item.detached) {
      throw typeError(action, name, "an ArrayBuffer that is not detached", item);
    }
    if (seen.has(item)) throw typeError(action, name, "listed once", item);
    seen.add(item);
  }
  return value as Transferable[];
}
