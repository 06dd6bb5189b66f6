/**
 * Main thread, the Web Worker engine: which worker gets the next job, how
 * many jobs a worker may hold, and taking back jobs handed ahead to a busy
 * worker for an idle one.
 *
 * @module
 */

import type { Job } from "../core/job.ts";
import { CANCEL_SLOTS } from "../wire/protocol.ts";
import type { WorkerSlot } from "./worker_slot.ts";

/** Tasks handed ahead to a worker: as many as it runs in about this long. */
const PREFETCH_BUDGET_MS = 1;
/** And never more than this many. */
const MAX_PREFETCH = 256;

/**
 * How many tasks a worker may hold: its concurrency, plus tasks handed
 * ahead so that it never waits for the main thread between them. How many is
 * learnt: as many as the worker gets through in about a millisecond, so
 * tiny tasks travel in batches and long ones one at a time (no worker sits
 * on work another could start).
 */
export function capacityOf(slot: WorkerSlot, concurrency: number, prefetch: number): number {
  // Once measured, at least one task waits ahead: a worker never idles while
  // the main thread (busy, or not even scheduled when the workers fill every
  // core) gets round to sending the next one. An idle worker steals it back.
  const learnt = slot.serviceTime > 0
    ? Math.max(1, Math.min(MAX_PREFETCH, Math.floor(PREFETCH_BUDGET_MS / slot.serviceTime)))
    : 0;
  return concurrency + Math.max(prefetch, learnt);
}

/**
 * The least loaded slot that has room. A slot whose thread is due for
 * recycling takes nothing more: it is recycled here once idle, and then has room.
 */
export function roomiest(
  slots: readonly WorkerSlot[],
  capacity: (slot: WorkerSlot) => number,
  due: (slot: WorkerSlot) => boolean,
  recycle: (slot: WorkerSlot) => void,
): WorkerSlot | undefined {
  let best: WorkerSlot | undefined;
  for (const slot of slots) {
    const load = slot.load;
    if (load >= capacity(slot) || (best !== undefined && load >= best.load)) continue;
    if (slot.thread !== null && due(slot)) {
      if (load > 0) continue;
      recycle(slot);
    }
    best = slot;
  }
  return best;
}

/**
 * With nothing queued, takes back from each busy worker the task it was
 * handed last and has not begun, so that it runs on an idle one instead of
 * waiting: the thread will skip it, and until it answers, the task holds
 * that capacity as a zombie. Returns the tasks taken.
 */
export function stealFrom(slots: readonly WorkerSlot[], concurrency: number): Job[] {
  const taken: Job[] = [];
  for (const victim of slots) {
    if (victim.load <= concurrency || victim.handedAhead() === 0) continue;
    // The last handed is the one that would wait longest.
    let last: Job | undefined;
    for (const job of victim.inflight.values()) last = job;
    if (last !== undefined && takeBack(victim, last)) taken.push(last);
  }
  return taken;
}

/**
 * Takes back from every worker the tasks handed ahead to it with a priority
 * below `priority` that it has not begun: the thread will skip them. Returns
 * the tasks taken, in the order they were taken from the queue.
 */
export function recallFrom(slots: readonly WorkerSlot[], priority: number): Job[] {
  const taken: Job[] = [];
  for (const slot of slots) {
    if (slot.handedAhead() === 0) continue;
    const started = slot.started();
    for (const job of slot.inflight.values()) {
      if (job.priority < priority && job.seq >= started && takeBack(slot, job)) taken.push(job);
    }
  }
  return taken.sort((a, b) => a.id - b.id);
}

/**
 * Takes back a task handed to `slot`, if its thread has not begun it, and
 * says whether it did: the thread will skip it, and until it answers, the
 * task holds that capacity as a zombie. Not one that moved buffers (they are
 * the thread's now), nor one whose steal flag would share a place with a
 * task before it (each flag covers one of a window of
 * {@linkcode CANCEL_SLOTS} sequence numbers from the first not begun).
 */
export function takeBack(slot: WorkerSlot, job: Job): boolean {
  if (job.transfer.length > 0 || job.seq >= slot.started() + CANCEL_SLOTS) return false;
  if (!slot.steal(job.seq)) return false;
  slot.zombies.set(job.seq, undefined);
  return true;
}
