/**
 * Main thread, the front: reads `ThreadPoolOptions` into the settings the
 * scheduler runs with, checking each and applying the defaults, so that a
 * bad option is refused by `new ThreadPool()` before any worker starts.
 *
 * @module
 */

import { assertClonable } from "../pool/clonable.ts";
import type { Initializer, ThreadPoolOptions } from "../pool/options.ts";
import { checkPermissions } from "./permissions.ts";
import type { InitializerSettings, SchedulerOptions } from "./scheduler.ts";
import { resolveTask } from "../pool/task.ts";
import {
  argumentList,
  flag,
  integer,
  milliseconds,
  nonNegativeInteger,
  optionsArgument,
  quote,
  text,
} from "../pool/validate.ts";

const ACTION = "create the pool";

/** The pool's checked settings: the scheduler's, less its event hooks, and the result bound. */
export interface PoolConfig {
  numWorkers: number;
  scheduler: Omit<SchedulerOptions, "events">;
  maxResults: number;
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
  const scheduler = {
    maxQueue: count("maxQueue", 0),
    idleTimeout: duration("idleTimeout", 250),
    concurrency: count("concurrency", 1, 1),
    prefetch: count("prefetch", 0),
    name: text(ACTION, "name", options.name) ?? "threadpool",
    timeout: options.timeout === undefined ? undefined : duration("timeout", 0),
    cancelGrace: duration("cancelGrace", 500),
    maxTasksPerWorker: count("maxTasksPerWorker", 0),
    grant: checkPermissions(
      options.permissions,
      flag(ACTION, "unstableWorkerOptions", options.unstableWorkerOptions) === true,
    ),
    initializer: initializer(options.initializer),
  };
  if (scheduler.initializer !== null) scheduler.grant?.admit(scheduler.initializer.task);
  return { numWorkers: workers, scheduler, maxResults: count("maxResults", 0) };
}

/**
 * Checks the `initializer` option.
 *
 * @throws {TypeError} When it is not a task spec, or its arguments cannot be sent.
 * @throws {RangeError} When its timeout is negative or NaN.
 */
function initializer(value: Initializer | undefined): InitializerSettings | null {
  if (value === undefined) return null;
  if (typeof value !== "object" || value === null) {
    throw new TypeError(
      `Cannot ${ACTION} as 'initializer' must be a task spec { module, name?, args? }: current value is ${
        quote(value)
      }`,
    );
  }
  const task = resolveTask(value);
  const args = value.args === undefined ? [] : argumentList(ACTION, "initializer.args", value.args);
  assertClonable(args, "initializer.args");
  const timeout = milliseconds(ACTION, "initializer.timeout", value.timeout ?? 30_000);
  return { task, args, timeout };
}
