/**
 * Worker thread: this thread's end of the shared-memory lane. It reads the
 * requests the pool wrote, in sequence with those that come by message,
 * writes results back when they encode exactly, and waits for more with
 * `Atomics.waitAsync` — after a short spin, so that a pool sending one
 * request after another finds it awake, and never blocking, so that
 * messages, timers and a task's async work go on as usual.
 *
 * @module
 */

import {
  POOL_WAITING,
  REQ_TAIL,
  RES_TAIL,
  Ring,
  wake,
  whenMoved,
  WORKER_WAITING,
} from "../wire/lane.ts";
import type { WireTask } from "../wire/protocol.ts";

/** How long an idle worker keeps looking for the next request before it waits. */
const SPIN_MS = 0.05;

/** The worker's end of its lane. */
export class LaneEnd {
  readonly #requests: Ring;
  readonly #results: Ring;
  #armed = false;

  /** This thread's end of the lane in `buffer`. */
  constructor(buffer: SharedArrayBuffer) {
    this.#requests = new Ring(buffer, true);
    this.#results = new Ring(buffer, false);
  }

  /** The request with sequence number `seq`, if it is the next in the lane; it is taken. */
  take(seq: number): WireTask | undefined {
    const ring = this.#requests;
    const end = ring.next();
    if (end === -1) return undefined;
    const reader = ring.reader;
    if (reader.int() !== seq) return undefined;
    const id = reader.int();
    const fn = reader.int();
    const flags = reader.int();
    const args = reader.value() as unknown[];
    ring.release(end);
    return [id, fn, args, flags, seq];
  }

  /** Takes every request left, unread: `[seq, id]` each. */
  drain(): [seq: number, id: number][] {
    const ring = this.#requests;
    const taken: [number, number][] = [];
    for (let end = ring.next(); end !== -1; end = ring.next()) {
      const seq = ring.reader.int();
      taken.push([seq, ring.reader.int()]);
      ring.release(end);
    }
    return taken;
  }

  /** Sends an outcome back by the lane; false if it cannot travel there (send it by message). */
  answer(id: number, seq: number, code: number, value: unknown): boolean {
    const ring = this.#results;
    const record = ring.record();
    if (!record.int(seq) || !record.int(id) || !record.int(code) || !record.value(value)) {
      return false;
    }
    if (!ring.push()) return false;
    wake(ring.control, POOL_WAITING, RES_TAIL);
    return true;
  }

  /** Looks for a request for a moment; true as soon as one is there. */
  spin(): boolean {
    const ring = this.#requests;
    const until = performance.now() + SPIN_MS;
    do {
      for (let i = 0; i < 64; i++) if (ring.waiting()) return true;
    } while (performance.now() < until);
    return false;
  }

  /** The sequence number of the next request in the lane, unread; -1 if none. */
  head(): number {
    const ring = this.#requests;
    return ring.next() === -1 ? -1 : ring.reader.int();
  }

  /**
   * Calls `then` once a request comes after those read (at once if one has);
   * armed once until it fires.
   */
  whenRequest(then: () => void): void {
    if (this.#armed) return;
    this.#armed = true;
    const ring = this.#requests;
    whenMoved(ring.control, WORKER_WAITING, REQ_TAIL, ring.cursor, () => {
      this.#armed = false;
      then();
    });
  }
}
