/**
 * Main thread, a cluster node: what its closing waits for, and for how
 * long — the jobs it is processing, and a Redis that may not answer.
 *
 * @module
 */

import type { RedisClient } from "./redis.ts";

/**
 * Milliseconds BullMQ has to finish closing a node once the node's own jobs
 * have ended; and Redis, to answer a closing node at all.
 */
export const CLOSE_GRACE_MS = 2_000;

/** Resolves with `step`'s value, or with `late` after `ms` (its timer then cleared either way). */
export async function within<T, L = undefined>(
  step: Promise<T>,
  ms: number,
  late?: L,
): Promise<T | L> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<L>((resolve) => timer = setTimeout(() => resolve(late as L), ms));
  return await Promise.race([step, timeout]).finally(() => clearTimeout(timer));
}

/** Whether every one of `clients` is connected and Redis answers one within `ms`. */
export async function answering(clients: RedisClient[], ms: number): Promise<boolean> {
  if (clients.some((made) => made.status !== "ready")) return false;
  return await within(clients[0]!.ping().then(() => true, () => false), ms, false);
}

/** Counts the jobs a node is processing, and says when none is left. */
export class InFlight {
  #count = 0;
  #idle: (() => void) | null = null;

  /** How many jobs are being processed. */
  get count(): number {
    return this.#count;
  }

  /** A job begins. */
  begin(): void {
    this.#count++;
  }

  /** A job ends. */
  end(): void {
    if (--this.#count === 0) this.#idle?.();
  }

  /** Resolves once no job is being processed. */
  ended(): Promise<void> {
    if (this.#count === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle = resolve);
  }
}
