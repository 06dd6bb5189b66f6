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
import { cancelLimits, copyList, flag, integer, iterable, optionsArgument } from "./validate.ts";

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
): AsyncGenerator<unknown> {
  const action = "map a task";
  const inputs = iterable(action, "inputs", given);
  const options = optionsArgument(action, "options", mapOptions);
  const ordered = flag(action, "ordered", options.ordered) ?? true;
  const chunkSize = integer(action, "chunkSize", options.chunkSize ?? 1, 1);
  cancelLimits(action, options);
  const { signal, timeout } = options;
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
        });
        sink.jobs.set(sent++, job);
        await queue.admit(job, true, undefined);
      }
      if (yielded === sent) return;
      const outcome = await sink.take(ordered ? yielded : undefined);
      yielded++;
      if (!outcome.ok) throw outcome.error;
      if (chunkSize === 1) {
        yield outcome.value;
        continue;
      }
      for (const [ok, value] of outcome.value as CallOutcome[]) {
        if (!ok) throw value;
        yield value;
      }
    }
  } finally {
    for (const job of sink.jobs.values()) queue.drop(job);
    if (!exhausted) await source.return?.();
  }
}
