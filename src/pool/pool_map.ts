/**
 * Main thread, the front: `map()`, one job per input (or per chunk of
 * inputs), read lazily through a window so that a long or endless input
 * never floods the queue.
 *
 * @module
 */

import { assertClonable } from "./clonable.ts";
import { MapSink } from "./map_sink.ts";
import type { MapOptions } from "./options.ts";
import type { WorkQueue } from "../core/work_queue.ts";
import { type CallOutcome, NO_TRANSFER } from "../core/job.ts";
import type { ResolvedTask } from "../core/task.ts";
import { PoolClosedError, TaskError, TaskTimeoutError, WorkerLostError } from "../core/errors.ts";
import {
  cancelLimits,
  copyList,
  flag,
  integer,
  iterable,
  optionsArgument,
  rateKeyOption,
  retryOption,
} from "./validate.ts";
import type { RateLimit } from "../core/rate_limit.ts";

/**
 * Runs `task` once per input through `queue`, yielding results as `options`
 * says; `workers` jobs at once keep the engine busy.
 */
export async function* mapTasks(
  queue: WorkQueue,
  workers: number,
  task: ResolvedTask,
  given: Iterable<unknown> | AsyncIterable<unknown>,
  mapOptions: MapOptions,
  rateLimits: ReadonlyMap<string, RateLimit>,
): AsyncGenerator<unknown> {
  const action = "map a task";
  const inputs = iterable(action, "inputs", given);
  const options = optionsArgument(action, "options", mapOptions);
  const ordered = flag(action, "ordered", options.ordered) ?? true;
  const settled = flag(action, "settled", options.settled) ?? false;
  const chunkSize = integer(action, "chunkSize", options.chunkSize ?? 1, 1);
  cancelLimits(action, options);
  const { signal, timeout, priority } = options;
  const retry = retryOption(action, options.retry);
  const rateKey = rateKeyOption(action, options.rateKey, rateLimits);
  if (retry !== undefined && chunkSize > 1) {
    throw new TypeError(
      `Cannot ${action} with both a 'retry' policy and 'chunkSize' above 1: a chunk's calls ` +
        `fail one by one, and are not tried again one by one (current chunkSize is ${chunkSize})`,
    );
  }
  const source = Symbol.asyncIterator in inputs
    ? inputs[Symbol.asyncIterator]()
    : (inputs as Iterable<unknown>)[Symbol.iterator]();
  const sink = new MapSink();
  // Enough chunks in flight to keep every worker busy, few enough to bound memory.
  const window = Math.max(2, 2 * workers);
  let exhausted = false;
  let sent = 0;
  let yielded = 0;
  let read = 0;
  try {
    for (;;) {
      while (!exhausted && sent - yielded < window) {
        const calls: unknown[][] = [];
        while (calls.length < chunkSize) {
          const item = await source.next();
          if (item.done) {
            exhausted = true;
            break;
          }
          const args = Array.isArray(item.value) ? copyList(item.value) : [item.value];
          assertClonable(args, `inputs[${read++}]`);
          calls.push(args);
        }
        if (calls.length === 0) break;
        const chunk = chunkSize > 1;
        const job = queue.job({
          task,
          args: chunk ? calls : calls[0]!,
          transfer: NO_TRANSFER,
          sink,
          token: sent,
          chunk,
          signal,
          timeout,
          priority,
          retry,
          rateKey,
        });
        sink.jobs.set(sent++, job);
        await queue.admit(job, true, undefined);
      }
      if (yielded === sent) return;
      const [chunk, outcome] = await sink.take(ordered ? yielded : undefined);
      yielded++;
      if (outcome.ok && chunkSize === 1 && !settled) {
        yield outcome.value;
        continue;
      }
      // Every chunk but the last is full: its first input's index follows from its own.
      const first = chunk * chunkSize;
      const calls: CallOutcome[] = !outcome.ok
        ? [[false, outcome.error]]
        : chunkSize === 1
        ? [[true, outcome.value]]
        : outcome.value as CallOutcome[];
      for (const [i, [ok, value]] of calls.entries()) {
        const index = first + i;
        if (settled) {
          yield ok ? { index, ok, value } : { index, ok, error: atInput(value, index) };
        } else if (ok) yield value;
        else throw atInput(value, index);
      }
    }
  } finally {
    for (const job of sink.jobs.values()) queue.drop(job);
    if (!exhausted) await source.return?.();
  }
}

/** The pool's own errors, which a map() failure names its input in. */
const OWN_ERRORS = [TaskError, TaskTimeoutError, WorkerLostError, PoolClosedError];

/**
 * A map() input's error, naming the input: the pool's own errors (made for
 * this call) get its `index` and say `(map() input N)`; anything else (a
 * signal's reason, shared by every call) is left as it is.
 */
function atInput(error: unknown, index: number): unknown {
  if (!OWN_ERRORS.some((own) => error instanceof own)) return error;
  if ((error as { index?: number }).index !== undefined) return error;
  const own = error as Error & { index: number };
  const message = `${own.message} (map() input ${index})`;
  if (own.stack !== undefined) own.stack = own.stack.replace(own.message, message);
  own.message = message;
  own.index = index;
  return own;
}
