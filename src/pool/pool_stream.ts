/**
 * Main thread, the front: `stream()`, a task's values as a `ReadableStream`.
 * The stream's own queue holds what has arrived; the task may send only as
 * many values as that queue has room for (`highWaterMark`), counting those
 * on their way, and is given more room as the reader reads. So a task is
 * never more than `highWaterMark` values ahead of its reader, on either side.
 *
 * @module
 */

import type { Job, Sink, StreamListener } from "../core/job.ts";

/**
 * One stream on this thread: the sink of its job (the task's end closes the
 * stream, its failure errors it) and the listener of its values.
 */
export class StreamState implements Sink, StreamListener {
  running = 0;
  readonly #highWaterMark: number;
  #controller: ReadableStreamDefaultController<unknown> | null = null;
  /** Values the task may send in all, and those it has sent, since it was last sent. */
  #granted = 0;
  #received = 0;
  #grant: ((n: number) => void) | null = null;
  #ended = false;

  /** A stream that lets its task be `highWaterMark` values ahead. */
  constructor(highWaterMark: number) {
    this.#highWaterMark = highWaterMark;
  }

  /** The stream this state feeds; `cancel` is called when its reader cancels it. */
  readable(cancel: (reason: unknown) => void): ReadableStream<unknown> {
    return new ReadableStream<unknown>({
      start: (controller) => {
        this.#controller = controller;
      },
      pull: () => this.#wanted(),
      cancel: (reason) => {
        this.#ended = true;
        cancel(reason);
      },
    }, new CountQueuingStrategy({ highWaterMark: this.#highWaterMark }));
  }

  open(grant: (n: number) => void): number {
    this.#grant = grant;
    const room = Math.max(0, this.#controller?.desiredSize ?? 0);
    this.#received = 0;
    this.#granted = room;
    return room;
  }

  values(values: readonly unknown[]): void {
    if (this.#ended) {
      this.#received += values.length;
      return;
    }
    for (const value of values) {
      // Counted as it is queued: queuing may ask for more room at once (the stream's pull).
      this.#received++;
      this.#controller!.enqueue(value);
    }
  }

  resolve(_job: Job, _value: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#controller!.close();
  }

  reject(_job: Job, error: Error): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#controller!.error(error);
  }

  /**
   * The reader made room: the task may send as much more as the queue can
   * take, less what is on its way. Room is given in large steps (half the
   * window at least, or all of it when nothing is on its way), not value by value.
   */
  #wanted(): void {
    if (this.#grant === null || this.#ended) return;
    const coming = this.#granted - this.#received;
    const room = (this.#controller!.desiredSize ?? 0) - coming;
    if (room <= 0 || (coming > 0 && room < this.#highWaterMark / 2)) return;
    this.#granted += room;
    this.#grant(room);
  }
}
