/**
 * Worker thread: streams on their way to the pool. A stream task's result —
 * a generator, an async generator, any iterable or async iterable, a
 * `ReadableStream` — is pulled only while the pool has room for its values
 * (its credit), and its values leave together: those made without a real
 * wait between them go in one message. Cancelled, the stream's `return()` is
 * called, so that a generator's `finally` runs.
 *
 * @module
 */

import type { FromWorker } from "../wire/protocol.ts";
import { RUNNING } from "../wire/protocol.ts";
import { isThenable } from "../wire/thenable.ts";
import { flagged, type RunningTask, type WorkerContext } from "./task_context.ts";
import { marked, unwrapTransfer } from "./transfer.ts";

/** At most this many values go in one message. */
const MAX_BATCH = 1_024;

/** What a stream's values are pulled from. */
type Pulled = Iterator<unknown> | AsyncIterator<unknown>;

/** One stream being driven: its credit, and what wakes it. */
interface Driving {
  credit: number;
  wake: (() => void) | null;
}

/** The worker's streams. */
export class StreamOut {
  readonly #context: WorkerContext;
  readonly #post: (message: FromWorker, transfer?: Transferable[]) => void;
  readonly #driving = new Map<number, Driving>();

  /** Streams through `post`; `context` says which task runs, for the task API in a generator. */
  constructor(
    context: WorkerContext,
    post: (message: FromWorker, transfer?: Transferable[]) => void,
  ) {
    this.#context = context;
    this.#post = post;
  }

  /** The pool has room for `n` more values of stream `id`. */
  grant(id: number, n: number): void {
    const driving = this.#driving.get(id);
    if (driving === undefined) return;
    driving.credit += n;
    driving.wake?.();
  }

  /** Stream `id` was cancelled: if it waits for room, it stops now. */
  cancelled(id: number): void {
    this.#driving.get(id)?.wake?.();
  }

  /**
   * Sends the values of `result`, task `task`'s result, starting with
   * `credit` of room; resolves when the stream has ended (or was cancelled),
   * rejects with what it threw after the values before it have left.
   *
   * @throws {TypeError} When `result` is not iterable.
   */
  async drive(task: RunningTask, result: unknown, credit: number): Promise<void> {
    const pulled = pulledFrom(result);
    const driving: Driving = { credit, wake: null };
    this.#driving.set(task.id, driving);
    const batch: unknown[] = [];
    let transfer: Transferable[] | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const flush = (): void => {
      clearTimeout(timer);
      timer = undefined;
      if (batch.length === 0) return;
      const values = batch.splice(0);
      const moving = transfer;
      transfer = undefined;
      this.#post({ t: "yield", id: task.id, values }, moving);
    };
    try {
      for (;;) {
        if (this.#stopped(task)) {
          flush();
          await pulled.return?.();
          return;
        }
        if (driving.credit === 0) {
          flush();
          await new Promise<void>((resolve) => driving.wake = resolve);
          driving.wake = null;
          continue;
        }
        let step = this.#next(task, pulled);
        if (isThenable(step)) {
          // Values made since the last real wait leave once this one turns out to be one.
          if (batch.length > 0) timer ??= setTimeout(flush, 0);
          step = await step;
        }
        if (step.done) {
          flush();
          return;
        }
        driving.credit--;
        if (marked(step.value)) {
          const [value, moved] = unwrapTransfer(step.value);
          batch.push(value);
          transfer = [...(transfer ?? []), ...moved!];
        } else {
          batch.push(step.value);
        }
        if (batch.length >= MAX_BATCH) flush();
      }
    } catch (error) {
      flush();
      throw error;
    } finally {
      clearTimeout(timer);
      this.#driving.delete(task.id);
    }
  }

  /** The stream's next step, with the task's context set for its synchronous part. */
  #next(
    task: RunningTask,
    pulled: Pulled,
  ): IteratorResult<unknown> | PromiseLike<IteratorResult<unknown>> {
    const context = this.#context;
    context.current = task;
    Atomics.store(context.counters, RUNNING, task.seq + 1);
    try {
      return pulled.next();
    } finally {
      context.current = null;
      Atomics.store(context.counters, RUNNING, 0);
    }
  }

  #stopped(task: RunningTask): boolean {
    return task.reason !== null || flagged(this.#context, task);
  }
}

/** The iterator of a stream task's result. */
function pulledFrom(result: unknown): Pulled {
  if (typeof result === "object" && result !== null) {
    if (Symbol.asyncIterator in result) {
      return (result as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    }
    if (Symbol.iterator in result) return (result as Iterable<unknown>)[Symbol.iterator]();
  }
  throw new TypeError(
    `A stream's task must return a generator, an async generator, an iterable, an async iterable ` +
      `or a ReadableStream: it returned ${
        result === null ? "null" : typeof result === "object" ? "an object" : typeof result
      }`,
  );
}
