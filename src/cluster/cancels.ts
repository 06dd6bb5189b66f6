/**
 * Main thread, a cluster node: what it knows of cancelled jobs.
 *
 * @module
 */

import { CANCEL_TTL_S } from "./protocol.ts";

/** How long a node remembers a cancel for a job it has not seen: as long as the cancel's key lives. */
const CANCEL_MEMORY_MS = CANCEL_TTL_S * 1000;

/**
 * What a node knows of cancelled jobs, told by message or read from their
 * keys: a job running here is stopped, and one not begun yet is stopped as
 * it begins. Costs no Redis command per job.
 */
export class Cancels {
  readonly #running = new Map<string, AbortController>();
  /** Cancelled jobs not running here (yet), with when the node heard of each. */
  readonly #heard = new Map<string, number>();

  hear(id: string): void {
    const running = this.#running.get(id);
    if (running !== undefined) {
      running.abort(cancelledReason());
      return;
    }
    const now = Date.now();
    this.#heard.set(id, now);
    // Oldest first (a Map keeps insertion order): forget those whose keys have expired.
    for (const [old, at] of this.#heard) {
      if (now - at < CANCEL_MEMORY_MS) break;
      this.#heard.delete(old);
    }
  }

  /** A job begins here: its controller, already aborted if it was cancelled. */
  begin(id: string): AbortController {
    const controller = new AbortController();
    if (this.#heard.delete(id)) controller.abort(cancelledReason());
    this.#running.set(id, controller);
    return controller;
  }

  /** Stops every job running here, with `reason`. */
  abortAll(reason: Error): void {
    for (const running of this.#running.values()) running.abort(reason);
  }

  end(id: string): void {
    this.#running.delete(id);
  }
}

function cancelledReason(): Error {
  return new Error("The client cancelled this request");
}
