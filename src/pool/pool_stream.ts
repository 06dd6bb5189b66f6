/**
 * Main thread, the front: `stream()`, a task's values as a `ReadableStream`.
 * Values wait here, in the batches they came in, and move into the stream's
 * own small queue as its reader empties it. The task may send only as many
 * values as there is room for (`highWaterMark`), counting those here, in the
 * stream's queue and on their way, and is given more room as the reader
 * reads. So a task is never more than `highWaterMark` values ahead of its
 * reader, on either side.
 *
 * @module
 */

import { Deque } from "../core/deque.ts";
import { TaskError, WorkerLostError } from "../core/errors.ts";
import type { Job, Sink, StreamListener } from "../core/job.ts";

/**
 * How many values wait in the stream's own queue at most, moved there from
 * the batches in steps: a few, so that a value is handed over without a
 * round of the stream's machinery each, and not many, so that few outlive a
 * young-generation collection while the reader is slow.
 */
const IN_STREAM = 32;

/**
 * One stream on this thread: the sink of its job (the task's end closes the
 * stream, its failure errors it) and the listener of its values.
 */
export class StreamState implements Sink, StreamListener {
  running = 0;
  readonly highWaterMark: number;
  readonly #highWaterMark: number;
  #controller: ReadableStreamDefaultController<unknown> | null = null;
  /** Batches of values that came and wait for the reader, and the next value's place in the first. */
  #batches = new Deque<readonly unknown[]>();
  #next = 0;
  /** Values waiting here. */
  #waiting = 0;
  /** Values the task may send in all, and those it has sent, since it was last sent. */
  #granted = 0;
  #received = 0;
  #grant: ((n: number) => void) | null = null;
  /** Set when the task has ended: the stream closes (or errors) once what waits is read. */
  #end: { error: Error } | { error: null } | null = null;
  #ended = false;
  /** Whether the stream's queue waits for values: the next that come move there at once. */
  #wanted = false;

  /** How many values the stream's own queue holds at most. */
  readonly #inStream: number;
  /** How many values may be here, in the stream's queue and on their way: the window less what is made elsewhere. */
  #window: number;

  /** A stream that lets its task be `highWaterMark` values ahead. */
  constructor(highWaterMark: number) {
    this.highWaterMark = highWaterMark;
    this.#highWaterMark = highWaterMark;
    this.#inStream = Math.min(IN_STREAM, Math.max(1, Math.floor(highWaterMark / 2)));
    this.#window = highWaterMark;
  }

  /** Values that came and are not read yet: here, and in the stream's own queue. */
  #ahead(): number {
    return this.#waiting + this.#inStream - Math.max(0, this.#controller?.desiredSize ?? 0);
  }

  /** The stream this state feeds; `cancel` is called when its reader cancels it. */
  readable(cancel: (reason: unknown) => void): ReadableStream<unknown> {
    return new ReadableStream<unknown>({
      start: (controller) => {
        this.#controller = controller;
      },
      pull: () => this.#pull(),
      cancel: (reason) => {
        this.#ended = true;
        this.#batches = new Deque();
        cancel(reason);
      },
    }, new CountQueuingStrategy({ highWaterMark: this.#inStream }));
  }

  open(grant: (n: number) => void, elsewhere = 0): number {
    this.#grant = grant;
    // What is made where the task runs counts against the window too (at least one here).
    this.#window = Math.max(1, this.#highWaterMark - elsewhere);
    const room = Math.max(0, this.#window - this.#ahead());
    this.#received = 0;
    this.#granted = room;
    return room;
  }

  values(values: readonly unknown[]): void {
    this.#received += values.length;
    if (this.#ended || this.#end !== null || values.length === 0) return;
    this.#batches.push(values);
    this.#waiting += values.length;
    if (this.#wanted) this.#pull();
  }

  resolve(_job: Job, _value: unknown): void {
    this.#finish({ error: null });
  }

  reject(_job: Job, error: Error): void {
    this.#finish({ error });
  }

  /** The stream's queue has room: move values there, or say that none will come. */
  #pull(): void {
    if (this.#ended) return;
    const controller = this.#controller!;
    const room = controller.desiredSize ?? 0;
    // Refilled in steps: once half of it has been read.
    if (room >= this.#inStream / 2) {
      for (let moved = 0; moved < room && this.#waiting > 0; moved++) {
        const batch = this.#batches.peek()!;
        const value = batch[this.#next++];
        if (this.#next === batch.length) {
          this.#batches.shift();
          this.#next = 0;
        }
        this.#waiting--;
        controller.enqueue(value);
      }
    }
    this.#makeRoom();
    this.#wanted = this.#waiting === 0 && (controller.desiredSize ?? 0) > 0;
    this.#endIfRead();
  }

  /**
   * The reader made room: the task may send as much more as there is room
   * for, less what is on its way. Room is given in large steps (half the
   * window at least, or all of it when nothing is on its way), not value by value.
   */
  #makeRoom(): void {
    if (this.#grant === null || this.#end !== null) return;
    const coming = this.#granted - this.#received;
    const room = this.#window - this.#ahead() - coming;
    if (room <= 0 || (coming > 0 && room < this.#window / 2)) return;
    this.#granted += room;
    this.#grant(room);
  }

  #finish(end: { error: Error } | { error: null }): void {
    if (this.#ended || this.#end !== null) return;
    this.#end = end;
    // The task's own end or failure comes after the values it made before; the caller's
    // abort, a timeout or a forced close ends the stream at once.
    const ownEnd = end.error === null || end.error instanceof TaskError ||
      end.error instanceof WorkerLostError;
    if (ownEnd) {
      this.#endIfRead();
    } else {
      this.#ended = true;
      this.#controller!.error(end.error);
    }
  }

  /**
   * Ends the stream once every value the task made has been handed to it:
   * closed (what its queue holds is still read), or errored once its queue
   * is read too (an error drops what the queue holds).
   */
  #endIfRead(): void {
    const end = this.#end;
    if (end === null || this.#ended || this.#waiting > 0) return;
    const controller = this.#controller!;
    if (end.error === null) {
      this.#ended = true;
      controller.close();
    } else if ((controller.desiredSize ?? 0) >= this.#inStream) {
      this.#ended = true;
      controller.error(end.error);
    }
  }
}
