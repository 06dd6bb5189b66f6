/**
 * Main thread, the front: the result channel: where put requests' outcomes wait for `poll()`,
 * `wait()` or `results()`. Nothing is stored beyond that: a consumer takes
 * each outcome once.
 *
 * @module
 */

import { Deque } from "../core/deque.ts";
import type { Job, Sink } from "../core/job.ts";
import type { WorkRequest } from "./work_request.ts";

/**
 * A put request's outcome, as `results()` yields it.
 *
 * @example Draining the result channel
 * ```ts
 * import { type Settled, ThreadPool, WorkRequest } from "@scope/threadpool";
 * import { equal } from "node:assert/strict";
 *
 * const source = "export function add(a, b) { return a + b; }";
 * const module = `data:text/javascript,${encodeURIComponent(source)}`;
 *
 * const add = { module, name: "add" };
 * await using pool = new ThreadPool(1);
 * await pool.putRequest(new WorkRequest(add, [1, 2]));
 * const outcomes: Settled[] = [];
 * for await (const outcome of pool.results()) outcomes.push(outcome);
 * equal(outcomes.length, 1);
 * equal(outcomes[0]?.ok && outcomes[0].value, 3);
 * ```
 */
export type Settled<R = unknown> =
  | { request: WorkRequest<R>; ok: true; value: R }
  | { request: WorkRequest<R>; ok: false; error: Error };

/** The sink of every put request. */
export class ResultChannel implements Sink {
  /** Put requests taken by the engine now; kept by the work queue. */
  running = 0;
  readonly #outcomes = new Deque<Settled>();
  /** Each running request's latest progress report not yet handed to its callback. */
  readonly #progress = new Map<WorkRequest, unknown>();
  readonly #maxResults: number;
  readonly #wake: () => void;
  #pending = 0;

  /**
   * `maxResults` bounds the outcomes waiting plus those running towards
   * them (0: no bound); `wake` tells whoever polls that a report came.
   */
  constructor(maxResults: number, wake: () => void) {
    this.#maxResults = maxResults;
    this.#wake = wake;
  }

  /** Whether progress reports wait for their callbacks. */
  get reports(): number {
    return this.#progress.size;
  }

  /** What keeps `request`'s latest progress report for its callback. */
  listen(request: WorkRequest): (value: unknown) => void {
    return (value) => {
      this.#progress.set(request, value);
      this.#wake();
    };
  }

  /** Takes the progress reports waiting, oldest request first. */
  takeReports(): [WorkRequest, unknown][] {
    const reports = [...this.#progress];
    this.#progress.clear();
    return reports;
  }

  /** Put requests accepted and not yet taken by a consumer. */
  get pending(): number {
    return this.#pending;
  }

  /** Outcomes waiting to be taken. */
  get length(): number {
    return this.#outcomes.length;
  }

  /** Counts a request as pending from the moment it is queued. */
  accept(): void {
    this.#pending++;
  }

  /** While the bound is reached, no further put request starts. */
  mayStart(): boolean {
    return this.#maxResults === 0 || this.#outcomes.length + this.running < this.#maxResults;
  }

  /** Keeps a success for a consumer. */
  resolve(job: Job, value: unknown): void {
    this.#outcomes.push({ request: job.token as WorkRequest, ok: true, value });
  }

  /** Marks the request failed and keeps the error for a consumer. */
  reject(job: Job, error: Error): void {
    const request = job.token as WorkRequest;
    request.exception = true;
    this.#outcomes.push({ request, ok: false, error });
  }

  /** Takes the oldest outcome; it is no longer pending. */
  take(): Settled | undefined {
    const settled = this.#outcomes.shift();
    if (settled !== undefined) {
      this.#pending--;
      // A consumer of results() takes no reports: its request's last one goes with it.
      if (this.#progress.size > 0) this.#progress.delete(settled.request);
    }
    return settled;
  }
}
