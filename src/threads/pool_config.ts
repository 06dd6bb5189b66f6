/**
 * Main thread: reads `ThreadPoolOptions` into the settings the Web Worker
 * engine and the front run with, checking each and applying the defaults,
 * so that a bad option is refused by `new ThreadPool()` before any worker starts.
 *
 * @module
 */

import { laneSupported } from "./lane_port.ts";
import { bound } from "../core/job.ts";
import { assertClonable } from "../pool/clonable.ts";
import type { Finalizer, Initializer, ThreadPoolOptions } from "../pool/options.ts";
import { checkPermissions } from "./permissions.ts";
import type { ThreadHook } from "./finalizers.ts";
import type { ThreadEngineOptions } from "./thread_engine.ts";
import { resolveTask } from "../core/task.ts";
import {
  argumentList,
  flag,
  integer,
  milliseconds,
  nonNegativeInteger,
  optionsArgument,
  priorityOption,
  quote,
  rateLimitsOption,
  retryOption,
  text,
} from "../pool/validate.ts";
import type { Retry } from "../core/retry.ts";
import { Limiter, type RateLimit } from "../core/rate_limit.ts";

const ACTION = "create the pool";

/** The pool's checked settings: the engine's, and the front's. */
export interface PoolConfig {
  numWorkers: number;
  engine: ThreadEngineOptions;
  front: {
    maxQueue: number;
    maxResults: number;
    timeout: number | undefined;
    priority: number;
    retry: Retry | undefined;
    rateLimits: Map<string, RateLimit>;
    limiter: Limiter | null;
  };
}

/**
 * Checks the constructor's arguments and applies the defaults.
 *
 * @throws {TypeError} When an option has the wrong type, or `permissions` is malformed.
 * @throws {RangeError} When a number is out of range.
 */
export function poolConfig(numWorkers: unknown, given: ThreadPoolOptions | undefined): PoolConfig {
  const options = optionsArgument(ACTION, "options", given);
  const count = (name: keyof ThreadPoolOptions, fallback: number, min = 0): number =>
    integer(ACTION, name, options[name] ?? fallback, min);
  const duration = (name: keyof ThreadPoolOptions, fallback: number): number =>
    milliseconds(ACTION, name, options[name] ?? fallback);
  const workers = nonNegativeInteger(ACTION, "numWorkers", numWorkers);
  const rateLimits = rateLimitsOption(ACTION, options.rateLimit, options.rateLimits);
  const front = {
    maxQueue: count("maxQueue", 0),
    maxResults: count("maxResults", 0),
    timeout: options.timeout === undefined ? undefined : bound(duration("timeout", 0)),
    priority: priorityOption(ACTION, options.priority ?? 0),
    retry: retryOption(ACTION, options.retry),
    rateLimits,
    limiter: rateLimits.size === 0 ? null : new Limiter(rateLimits),
  };
  const engine: ThreadEngineOptions = {
    idleTimeout: duration("idleTimeout", 250),
    concurrency: count("concurrency", 1, 1),
    prefetch: count("prefetch", 0),
    name: text(ACTION, "name", options.name) ?? "threadpool",
    cancelGrace: duration("cancelGrace", 500),
    maxTasksPerWorker: count("maxTasksPerWorker", 0),
    grant: checkPermissions(
      options.permissions,
      flag(ACTION, "unstableWorkerOptions", options.unstableWorkerOptions) === true,
    ),
    initializer: threadHook("initializer", options.initializer, 30_000),
    finalizer: threadHook("finalizer", options.finalizer, 5_000),
    lane: (flag(ACTION, "lane", options.lane) ?? true) && laneSupported,
    // Under a rate limit a task must start when it is sent: none waits ahead on a busy worker.
    handAhead: rateLimits.size === 0,
  };
  if (engine.initializer !== null) engine.grant?.admit(engine.initializer.task);
  if (engine.finalizer !== null) engine.grant?.admit(engine.finalizer.task);
  return { numWorkers: workers, engine, front };
}

/**
 * Checks the `initializer` or `finalizer` option.
 *
 * @throws {TypeError} When it is not a task spec, or its arguments cannot be sent.
 * @throws {RangeError} When its timeout is negative or NaN.
 */
function threadHook(
  name: "initializer" | "finalizer",
  value: Initializer | Finalizer | undefined,
  timeout: number,
): ThreadHook | null {
  if (value === undefined) return null;
  if (typeof value !== "object" || value === null) {
    throw new TypeError(
      `Cannot ${ACTION} as '${name}' must be a task spec { module, name?, args? }: current value is ${
        quote(value)
      }`,
    );
  }
  const task = resolveTask(value);
  const args = value.args === undefined ? [] : argumentList(ACTION, `${name}.args`, value.args);
  assertClonable(args, `${name}.args`);
  return {
    task,
    args,
    timeout: milliseconds(ACTION, `${name}.timeout`, value.timeout ?? timeout),
  };
}
