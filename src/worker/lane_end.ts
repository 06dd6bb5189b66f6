/**
 * Worker thread: this thread's end of the shared-memory lane. It reads the
 * requests the pool wrote, in sequence with those that come by message, and
 * writes results back when they encode exactly. With nothing to read it looks
 * for a moment — a pool sending one request after another finds it awake —
 * then raises its waiting flag and returns to its event loop, so that
 * messages, timers and a task's async work go on; the pool's doorbell brings
 * it back.
 *
 * @module
 */

import { POOL_WAITING, RES_TAIL, Ring, waiting, WORKER_WAITING } from "../wire/lane.ts";
import type { WireTask } from "../wire/protocol.ts";
import { FLUSH_AFTER_MS, TINY_MS } from "./outbox.ts";

/** How long an idle worker keeps looking for the next request before it waits. */
const SPIN_MS = 0.05;
/**
 * Results written before the pool is rung for them, while more tasks run:
 * one doorbell for a run of results, not one each (a pool woken for every
 * result spends its time on doorbells).
 */
const RING_EVERY = 16;

/** The worker's end of its lane. */
export class LaneEnd {
  readonly #requests: Ring;
  readonly #results: Ring;
  readonly #ring: () => void;
  /** Results written since the pool was last rung for them. */
  #unrung = 0;
  /** When the first of those was written. */
  #since = 0;

  /** This thread's end of the lane in `buffer`; `ring` rings the pool's doorbell. */
  constructor(buffer: SharedArrayBuffer, ring: () => void) {
    this.#requests = new Ring(buffer, true);
    this.#results = new Ring(buffer, false);
    this.#ring = ring;
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

  /** The sequence number of the next request in the lane, unread; -1 if none. */
  head(): number {
    const ring = this.#requests;
    return ring.next() === -1 ? -1 : ring.reader.int();
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
    if (this.#unrung++ === 0) this.#since = performance.now();
    if (this.#unrung >= RING_EVERY) this.flush();
    return true;
  }

  /**
   * Rings for the results written, unless the next task (of `time` ms,
   * measured) is tiny and they are young: as the outbox holds its messages.
   */
  beforeStart(time: number): void {
    if (this.#unrung > 0 && (time > TINY_MS || performance.now() - this.#since > FLUSH_AFTER_MS)) {
      this.flush();
    }
  }

  /** Rings the pool's doorbell for the results written, if it waits for them. */
  flush(): void {
    if (this.#unrung === 0) return;
    this.#unrung = 0;
    const ring = this.#results;
    if (waiting(ring.control, POOL_WAITING)) {
      // The pool may hear the notify first (its Atomics.waitAsync); the doorbell always arrives.
      Atomics.notify(ring.control, RES_TAIL);
      this.#ring();
    }
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

  /**
   * Raises the waiting flag, for the pool to ring when it writes; true if a
   * request came meanwhile (then the flag is lowered again: read it).
   */
  sleep(): boolean {
    const { control } = this.#requests;
    Atomics.store(control, WORKER_WAITING, 1);
    if (!this.#requests.waiting()) return false;
    Atomics.store(control, WORKER_WAITING, 0);
    return true;
  }
}
