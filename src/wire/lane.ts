/**
 * Both threads: the shared-memory lane between the pool and one worker
 * thread — a ring of requests (the pool writes, the worker reads) and a ring
 * of results (the other way), in one SharedArrayBuffer. Small tasks whose
 * arguments and results encode exactly (`lane_codec.ts`) travel here instead
 * of by message. Neither thread ever blocks on it: a side with nothing to read
 * raises its waiting flag and goes back to its event loop, and the other side,
 * having written, clears the flag and rings a doorbell — a message, which
 * always wakes the event loop (an `Atomics.notify` alone may not: in Deno a
 * woken `Atomics.waitAsync` can wait for the loop's next turn).
 *
 * A record is `[length: u32, payload]`; a length of 0, or fewer than 4 bytes
 * left before the end, means "continue at the start". Each ring has one
 * writer and one reader: the writer publishes its tail, the reader its head.
 *
 * @module
 */

import { LaneReader, LaneWriter } from "./lane_codec.ts";

/** Control word: where the worker reads requests next. */
const REQ_HEAD = 0;
/** Control word: where the pool writes requests next. */
export const REQ_TAIL = 1;
/** Control word: where the pool reads results next. */
const RES_HEAD = 2;
/** Control word: where the worker writes results next. */
export const RES_TAIL = 3;
/** Control word: set by the worker while it waits for requests; whoever clears it rings. */
export const WORKER_WAITING = 4;
/** Control word: set by the pool while it waits for results; whoever clears it rings. */
export const POOL_WAITING = 5;
const CONTROL_WORDS = 8;

/** Bytes of each ring. */
const RING_BYTES = 64 * 1024;
/** The largest record either ring takes; a larger task or result goes by message. */
export const MAX_RECORD = 2048;

/** Makes the memory of one thread's lane. */
export function laneBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(CONTROL_WORDS * 4 + 2 * RING_BYTES);
}

/** One ring of a lane, as its writer or its reader sees it. */
export class Ring {
  readonly control: Int32Array<SharedArrayBuffer>;
  readonly bytes: Uint8Array<SharedArrayBuffer>;
  readonly #view: DataView;
  readonly #head: number;
  readonly #tail: number;
  /** This side's own cursor: the writer's tail, or the reader's head. */
  #cursor = 0;
  readonly #scratch = new LaneWriter(new Uint8Array(MAX_RECORD));
  readonly reader: LaneReader;

  /** The request ring (`requests`) or the result ring of the lane in `buffer`. */
  constructor(buffer: SharedArrayBuffer, requests: boolean) {
    this.control = new Int32Array(buffer, 0, CONTROL_WORDS);
    this.bytes = new Uint8Array(
      buffer,
      CONTROL_WORDS * 4 + (requests ? 0 : RING_BYTES),
      RING_BYTES,
    );
    this.#view = new DataView(buffer, this.bytes.byteOffset, RING_BYTES);
    this.#head = requests ? REQ_HEAD : RES_HEAD;
    this.#tail = requests ? REQ_TAIL : RES_TAIL;
    this.reader = new LaneReader(this.bytes);
  }

  /** The writer's scratch record, emptied: fill it, then {@linkcode Ring.push} it. */
  record(): LaneWriter {
    this.#scratch.at = 0;
    return this.#scratch;
  }

  /** Copies the scratch record into the ring and publishes it; false if the ring is full. */
  push(): boolean {
    const length = this.#scratch.at + 4;
    const head = Atomics.load(this.control, this.#head);
    let tail = this.#cursor;
    // Free bytes must stay more than used, or a full ring would look empty.
    if (tail >= head) {
      if (RING_BYTES - tail < length + (head === 0 ? 1 : 0)) {
        if (head <= length) return false;
        if (RING_BYTES - tail >= 4) this.#view.setUint32(tail, 0, true);
        tail = 0;
      }
    } else if (head - tail <= length) {
      return false;
    }
    this.#view.setUint32(tail, length, true);
    // Byte by byte: records are small, and a subarray view per record is garbage.
    const from = this.#scratch.bytes;
    const into = this.bytes;
    for (let i = 0, at = tail + 4; i < length - 4; i++, at++) into[at] = from[i]!;
    this.#cursor = tail + length;
    Atomics.store(this.control, this.#tail, this.#cursor);
    return true;
  }

  /** Whether a record waits to be read. */
  waiting(): boolean {
    return this.#cursor !== Atomics.load(this.control, this.#tail);
  }

  /** How far this side has written (writer) or read (reader): when nothing waits, the tail. */
  get cursor(): number {
    return this.#cursor;
  }

  /**
   * Positions the reader at the next record's payload and returns where the
   * record ends; -1 if there is none. {@linkcode Ring.release} it once read.
   */
  next(): number {
    const tail = Atomics.load(this.control, this.#tail);
    let head = this.#cursor;
    if (head === tail) return -1;
    if (RING_BYTES - head < 4 || this.#view.getUint32(head, true) === 0) {
      head = 0;
      if (head === tail) {
        this.#cursor = 0;
        return -1;
      }
    }
    this.reader.at = head + 4;
    return head + this.#view.getUint32(head, true);
  }

  /** Frees the record read, up to `end`, for the writer. */
  release(end: number): void {
    this.#cursor = end;
    Atomics.store(this.control, this.#head, end);
  }
}

/**
 * Whether the other side waits on a ring just written to: if it does, its
 * flag is cleared here, and the caller rings its doorbell — once per wait.
 */
export function waiting(control: Int32Array<SharedArrayBuffer>, flag: number): boolean {
  return Atomics.load(control, flag) === 1 && Atomics.compareExchange(control, flag, 1, 0) === 1;
}
