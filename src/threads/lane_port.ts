/**
 * Main thread, the Web Worker engine: the pool's end of one thread's
 * shared-memory lane. It writes the requests that encode exactly, tells the
 * thread when it waits for them, and reads the results that come back,
 * waiting for them with `Atomics.waitAsync` (which does not keep the
 * process alive).
 *
 * @module
 */

import { laneBuffer, POOL_WAITING, RES_TAIL, Ring, waiting, WORKER_WAITING } from "../wire/lane.ts";
import type { WireResults } from "../wire/protocol.ts";

/** Whether this host has what the lane needs. */
export const laneSupported: boolean = typeof SharedArrayBuffer === "function" &&
  typeof Atomics.waitAsync === "function";

/** The pool's end of one thread's lane. */
export class LanePort {
  readonly buffer: SharedArrayBuffer = laneBuffer();
  readonly #requests = new Ring(this.buffer, true);
  readonly #results = new Ring(this.buffer, false);
  #written = false;
  #closed = false;
  #pending = false;
  #then: () => void = () => {};

  /**
   * Writes a request; false if it cannot travel by the lane (send it by
   * message). Reading the arguments may throw (a getter): then too it goes by
   * message, which fails it as it would fail without the lane.
   */
  send(id: number, seq: number, fn: number, flags: number, args: readonly unknown[]): boolean {
    const ring = this.#requests;
    const record = ring.record();
    try {
      if (
        !record.int(seq) || !record.int(id) || !record.int(fn) || !record.int(flags) ||
        !record.list(args) || !ring.push()
      ) {
        return false;
      }
    } catch {
      return false;
    }
    this.#written = true;
    return true;
  }

  /** After a round of sends: whether the thread waits for them (then ring its doorbell). */
  flush(): boolean {
    if (!this.#written) return false;
    this.#written = false;
    return waiting(this.#requests.control, WORKER_WAITING);
  }

  /**
   * Reads every result there into `into` from its start, as `[id, seq, code,
   * value, …]`, and returns how many entries it wrote: the array is written
   * over, never emptied, so that reading allocates nothing for it.
   */
  read(into: WireResults): number {
    const ring = this.#results;
    let length = 0;
    for (let end = ring.next(); end !== -1; end = ring.next()) {
      const reader = ring.reader;
      const seq = reader.int();
      const id = reader.int();
      into[length] = id;
      into[length + 1] = seq;
      into[length + 2] = reader.int();
      into[length + 3] = reader.value();
      length += 4;
      ring.release(end);
    }
    return length;
  }

  /**
   * Calls `then` whenever results come, until closed: on the thread's
   * doorbell ({@linkcode LanePort.doorbell}), or sooner if this thread's
   * `Atomics.waitAsync` wakes first.
   */
  listen(then: () => void): void {
    this.#then = then;
    this.#arm();
  }

  /** The thread rang: results wait. */
  doorbell(): void {
    this.#fire();
  }

  /** Stops listening: a pending wait is woken, and does nothing. */
  close(): void {
    this.#closed = true;
    Atomics.notify(this.#results.control, RES_TAIL);
  }

  readonly #fire = (): void => {
    if (this.#closed) return;
    this.#then();
    this.#arm();
  };

  /** Raises the waiting flag, and waits on the ring too unless a wait is pending already. */
  #arm(): void {
    const ring = this.#results;
    Atomics.store(ring.control, POOL_WAITING, 1);
    if (ring.waiting()) {
      queueMicrotask(this.#fire);
      return;
    }
    if (this.#pending) return;
    const waited = Atomics.waitAsync(ring.control, RES_TAIL, ring.cursor);
    if (!waited.async) {
      queueMicrotask(this.#fire);
      return;
    }
    this.#pending = true;
    waited.value.then(() => {
      this.#pending = false;
      this.#fire();
    });
  }
}
