/**
 * Main thread, a cluster node: one job's progress reports on their way to
 * its client's stream. One write at a time: a report made while the last is
 * still on its way waits, and a newer one replaces it, so that a task that
 * reports faster than Redis takes the writes costs one write per round trip
 * and its client gets the latest value. The last report is written before
 * the job's answer.
 *
 * @module
 */

import { DEFAULT_MAX_PAYLOAD, encode } from "./codec.ts";

/** Relays one job's progress reports through `write`. */
export class ProgressRelay {
  readonly #write: (encoded: string) => Promise<void>;
  #writing = false;
  #waiting: string | undefined;

  /** Reports go out through `write`, which resolves once Redis has taken one. */
  constructor(write: (encoded: string) => Promise<void>) {
    this.#write = write;
  }

  /** The task reported `value`. One that cannot cross (not clonable, too large) is dropped. */
  readonly report = (value: unknown): void => {
    let encoded: string;
    try {
      encoded = encode(value, "a progress report", DEFAULT_MAX_PAYLOAD);
    } catch {
      return;
    }
    if (this.#writing) this.#waiting = encoded;
    else void this.#send(encoded);
  };

  /** The task ended: a report still waiting is written now, ahead of the answer that follows. */
  flush(): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    if (waiting !== undefined) void this.#write(waiting);
  }

  async #send(encoded: string): Promise<void> {
    this.#writing = true;
    try {
      await this.#write(encoded);
    } finally {
      this.#writing = false;
    }
    const waiting = this.#waiting;
    this.#waiting = undefined;
    if (waiting !== undefined) void this.#send(waiting);
  }
}
