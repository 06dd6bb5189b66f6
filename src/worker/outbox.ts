/**
 * Worker thread: where finished tasks' outcomes wait to leave together, one
 * `done` message for a run of tasks. An outcome waits only if it is
 * mirrored in memory shared with the pool (see `wire/held_results.ts`), so
 * that a task which then blocks this thread for good cannot take it along;
 * any other leaves at once whenever other tasks' code could run first.
 *
 * @module
 */

import { errorMessage, toWireError } from "../wire/error_wire.ts";
import { HELD_CAPACITY, HeldResults } from "../wire/held_results.ts";
import { FAILED, type FromWorker, POSTED, SKIPPED } from "../wire/protocol.ts";

/** Outcomes held at most this long before they leave, when more tasks follow. */
export const FLUSH_AFTER_MS = 1;
/**
 * Outcomes wait only in front of a task known to take less than this: one
 * that is slower, or not yet measured, would keep them waiting long.
 */
export const TINY_MS = 0.05;
/** And at most this many go in one message: all of them mirrored in shared memory. */
const MAX_BATCH = HELD_CAPACITY;

/** How the outbox sends, and what it asks of the worker. */
export interface OutboxHost {
  /** Posts a message to the pool; throws if it cannot be cloned. */
  post(message: FromWorker, transfer?: Transferable[]): void;
  /** Whether other tasks are running, whose code may run before a microtask flush. */
  othersRunning(): boolean;
}

/** The worker's outgoing outcomes. */
export class Outbox {
  readonly #host: OutboxHost;
  #results: unknown[] = [];
  #names: string[] = [];
  #transfer: Transferable[] = [];
  #since = 0;
  #queued = false;
  // Whether every outcome waiting is mirrored, where the pool can read it.
  #mirrored = true;
  #held: HeldResults | null = null;
  #counters: Int32Array<ArrayBufferLike> | null = null;

  /** An outbox that sends through `host`. */
  constructor(host: OutboxHost) {
    this.#host = host;
  }

  /** Binds the outbox to the memory it shares with the pool (the `init` message's). */
  share(counters: Int32Array<ArrayBufferLike>, held: SharedArrayBuffer): void {
    this.#counters = counters;
    this.#held = new HeldResults(held);
  }

  /** Sends what waits now, unless the next task (of `time` ms, measured) is tiny and it is young. */
  beforeStart(time: number): void {
    if (this.#results.length === 0) return;
    if (!this.#mirrored || time > TINY_MS || performance.now() - this.#since > FLUSH_AFTER_MS) {
      this.flush();
    }
  }

  /** Queues an outcome: `value` is a result, a WireError, or nothing for a skipped task. */
  deliver(
    id: number,
    seq: number,
    code: number,
    value: unknown,
    transfer: Transferable[] | undefined,
    name: string,
  ): void {
    if (this.#results.length === 0) this.#since = performance.now();
    const held = this.#held;
    const mirrored = code !== FAILED && transfer === undefined && held !== null &&
      held.write(this.#names.length, seq, value, code === SKIPPED);
    this.#results.push(id, seq, code, value);
    this.#names.push(name);
    if (transfer !== undefined) { for (const item of transfer) this.#transfer.push(item); }
    if (!mirrored) this.#mirrored = false;
    // An outcome that is not mirrored must not wait while other tasks' code can
    // run first: one of them could block this thread for good.
    if (this.#names.length >= MAX_BATCH || (!mirrored && this.#host.othersRunning())) {
      this.flush();
    } else if (!this.#queued) {
      this.#queued = true;
      queueMicrotask(this.flush);
    }
  }

  /** Sends every outcome waiting; an outcome that cannot be cloned fails alone. */
  readonly flush = (): void => {
    this.#queued = false;
    if (this.#results.length === 0) return;
    const results = this.#results;
    const names = this.#names;
    const transfer = this.#transfer;
    this.#results = [];
    this.#names = [];
    this.#transfer = [];
    this.#mirrored = true;
    try {
      this.#host.post({ t: "done", results }, transfer);
      this.#posted(names.length);
      return;
    } catch {
      // Some result cannot be cloned: send them one by one, and fail just those.
    }
    for (let i = 0; i < results.length; i += 4) {
      const one = results.slice(i, i + 4);
      try {
        this.#host.post({ t: "done", results: one });
      } catch (error) {
        const reason = new TypeError(
          `The result of task "${names[i / 4]}" could not be sent back: ${errorMessage(error)}`,
          { cause: error },
        );
        this.#host.post({ t: "done", results: [one[0], one[1], FAILED, toWireError(reason)] });
      }
    }
    this.#posted(names.length);
  };

  /** Counts outcomes as posted, then frees their mirror: the pool reads in the other order. */
  #posted(count: number): void {
    if (this.#counters !== null) Atomics.add(this.#counters, POSTED, count);
    this.#held?.clear();
  }
}
