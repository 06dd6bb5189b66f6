/**
 * Main thread, the Web Worker engine: the pool's end of one thread's
 * shared-memory lane. It writes the requests that encode exactly, tells the
 * thread when it waits for them, and reads the results that come back,
 * waiting for them with `Atomics.waitAsync` (which does not keep the
 * process alive).
 *
 * @module
 */

import {
  laneBuffer,
  POOL_WAITING,
  REQ_TAIL,
  RES_TAIL,
  Ring,
  wake,
  whenMoved,
  WORKER_WAITING,
} from "../wire/lane.ts";
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

  /** Writes a request; false if it cannot travel by the lane (send it by message). */
  send(id: number, seq: number, fn: number, flags: number, args: readonly unknown[]): boolean {
    const ring = this.#requests;
    const record = ring.record();
    if (
      !record.int(seq) || !record.int(id) || !record.int(fn) || !record.int(flags) ||
      !record.value(args) || !ring.push()
    ) {
      return false;
    }
    this.#written = true;
    return true;
  }

  /** After a round of sends: wakes the thread if it waits for requests. */
  flush(): void {
    if (!this.#written) return;
    this.#written = false;
    wake(this.#requests.control, WORKER_WAITING, REQ_TAIL);
  }

  /** Reads every result there, as `[id, seq, code, value, …]` appended to `into`. */
  read(into: WireResults): void {
    const ring = this.#results;
    for (let end = ring.next(); end !== -1; end = ring.next()) {
      const reader = ring.reader;
      const seq = reader.int();
      const id = reader.int();
      const code = reader.int();
      into.push(id, seq, code, reader.value());
      ring.release(end);
    }
  }

  /** Calls `then` each time results come, until closed. */
  listen(then: () => void): void {
    const ring = this.#results;
    const fire = () => {
      if (this.#closed) return;
      then();
      this.listen(then);
    };
    if (ring.waiting()) queueMicrotask(fire);
    else whenMoved(ring.control, POOL_WAITING, RES_TAIL, ring.cursor, fire);
  }

  /** Stops listening: the pending wait is woken, and does nothing. */
  close(): void {
    this.#closed = true;
    Atomics.notify(this.#results.control, RES_TAIL);
  }
}
