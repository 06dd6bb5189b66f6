/**
 * Main thread, the front: collects the outcomes of one `map()` call so that its iterator can yield
 * them in input order or in completion order.
 *
 * @module
 */

import type { Job, Sink } from "../core/job.ts";

/** One chunk's outcome. */
export type Outcome = { ok: true; value: unknown } | { ok: false; error: Error };

/** The sink shared by every job of one `map()` call; `token` is the chunk index. */
export class MapSink implements Sink {
  /** This map's jobs on workers now. */
  running = 0;
  /** Finished chunks not yet yielded, in completion order. */
  readonly done: Map<number, Outcome> = new Map();
  /** Jobs of this map not yet yielded, by chunk index. */
  readonly jobs: Map<number, Job> = new Map();
  #wake: (() => void) | null = null;

  /** Records a chunk's value. */
  resolve(job: Job, value: unknown): void {
    this.done.set(job.token as number, { ok: true, value });
    this.#signal();
  }

  /** Records a chunk's error. */
  reject(job: Job, error: Error): void {
    this.done.set(job.token as number, { ok: false, error });
    this.#signal();
  }

  /** Waits for chunk `index`, or with `undefined` for any chunk, and takes it, with its index. */
  async take(index: number | undefined): Promise<[chunk: number, outcome: Outcome]> {
    for (;;) {
      const key = index ?? this.done.keys().next().value;
      const outcome = key === undefined ? undefined : this.done.get(key);
      if (key !== undefined && outcome !== undefined) {
        this.done.delete(key);
        this.jobs.delete(key);
        return [key, outcome];
      }
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
  }

  #signal(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}
