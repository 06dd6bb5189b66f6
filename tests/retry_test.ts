import { deepEqual, equal, ok, rejects, throws } from "node:assert/strict";
import {
  RetryError,
  TaskError,
  TaskTimeoutError,
  ThreadPool,
  WorkerLostError,
  WorkRequest,
} from "../mod.ts";
import { type Retry, retryDelay } from "../src/core/retry.ts";
import { taskModule } from "../src/core/task.ts";
import type * as Streams from "./fixtures/streams.ts";
import { poolTest, task } from "./helpers.ts";

const streams = taskModule<typeof Streams>(new URL("./fixtures/streams.ts", import.meta.url));

/** A call counter and the start time of each call, shared with the workers. */
function calls(): { calls: Int32Array; times: Float64Array } {
  return {
    calls: new Int32Array(new SharedArrayBuffer(4)),
    times: new Float64Array(new SharedArrayBuffer(8 * 16)),
  };
}

/** The waits between attempts, from their start times. */
function gaps(times: Float64Array, attempts: number): number[] {
  return Array.from({ length: attempts - 1 }, (_, i) => times[i + 1]! - times[i]!);
}

/** Resolves once `check` holds, looking again at each turn of the event loop. */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 1));
}

poolTest(
  "A failed request is tried again after a fixed delay, and succeeds; stats() counts the retries",
  { workers: 2 },
  async (pool) => {
    const { calls: count, times } = calls();
    const retry = { attempts: 4, delay: 40, backoff: "fixed" } as const;
    equal(await pool.run(task("failTimes"), [count, times, 3, "flaky"], { retry }), 3);
    for (const gap of gaps(times, 3)) ok(gap >= 39, `waited ${gap} ms, not the 40 asked`);
    const stats = pool.stats();
    deepEqual([stats.completed, stats.failed, stats.retried], [1, 0, 2]);
  },
);

poolTest(
  "Exponential backoff doubles the wait after each failure; the last failure is a RetryError with every attempt's error",
  { workers: 1 },
  async (pool) => {
    const { calls: count, times } = calls();
    const retry = { attempts: 3, delay: 30, backoff: "exponential" } as const;
    await rejects(pool.run(task("failTimes"), [count, times, 10, "down"], { retry }), (error) => {
      ok(error instanceof RetryError, String(error));
      equal(error.attempts, 3);
      equal(error.errors.length, 3);
      ok(error.errors.every((each) => each instanceof TaskError));
      equal(error.cause, error.errors[2]);
      deepEqual(
        error.errors.map((each: TaskError) => (each.cause as Error).message),
        ["down (call 1)", "down (call 2)", "down (call 3)"],
      );
      ok(error.message.includes("failed 3 attempts"), error.message);
      return true;
    });
    const [first, second] = gaps(times, 3);
    ok(first! >= 29 && second! >= 59, `waited ${first} then ${second} ms`);
    const stats = pool.stats();
    deepEqual([stats.completed, stats.failed, stats.retried], [0, 1, 2]);
  },
);

Deno.test("retryDelay: fixed, doubled, capped, and jittered within its share", () => {
  const policy = (more: Partial<Retry>): Retry => ({
    attempts: 10,
    delay: 100,
    backoff: "exponential",
    maxDelay: 1_000,
    jitter: 0,
    timeouts: false,
    retryOn: undefined,
    ...more,
  });
  deepEqual([1, 2, 3].map((n) => retryDelay(policy({ backoff: "fixed" }), n)), [100, 100, 100]);
  deepEqual([1, 2, 3, 4, 5].map((n) => retryDelay(policy({}), n)), [100, 200, 400, 800, 1_000]);
  for (let i = 0; i < 1_000; i++) {
    const wait = retryDelay(policy({ jitter: 0.25 }), 2);
    ok(wait > 150 && wait <= 200, String(wait));
  }
});

poolTest(
  "retryOn decides which failures are tried again; without it a task's error is, a timeout only when asked",
  { workers: 1 },
  async (pool) => {
    const transient = (error: unknown) =>
      ((error as TaskError).cause as Error).message.includes("busy");
    const a = calls();
    const retry = { attempts: 3, delay: 1, retryOn: transient };
    // Not transient: one attempt, and its own error (not a RetryError).
    await rejects(
      pool.run(task("failTimes"), [a.calls, a.times, 2, "bad input"], { retry }),
      TaskError,
    );
    equal(Atomics.load(a.calls, 0), 1);
    const b = calls();
    equal(await pool.run(task("failTimes"), [b.calls, b.times, 2, "busy"], { retry }), 2);
    // A timeout: not tried again by default.
    const timeoutRetry = { attempts: 2, delay: 1 };
    await rejects(
      pool.run(task("delayed"), [1, 5_000], { timeout: 20, retry: timeoutRetry }),
      TaskTimeoutError,
    );
    equal(pool.stats().retried, 1);
    // Asked: each attempt has its own timeout.
    await rejects(
      pool.run(task("delayed"), [1, 5_000], {
        timeout: 20,
        retry: { ...timeoutRetry, timeouts: true },
      }),
      (error) => {
        ok(error instanceof RetryError && error.errors.every((e) => e instanceof TaskTimeoutError));
        return true;
      },
    );
    equal(pool.stats().retried, 2);
  },
);

poolTest(
  "The request's signal stops its retries, also while it waits between two; a worker's death is retried",
  { workers: 1 },
  async (pool) => {
    const { calls: count, times } = calls();
    const controller = new AbortController();
    const reason = new Error("no longer wanted");
    const call = pool.run(task("failTimes"), [count, times, 5, "flaky"], {
      signal: controller.signal,
      retry: { attempts: 5, delay: 60_000 },
    });
    await until(() => pool.stats().retried === 1);
    controller.abort(reason);
    await rejects(call, (error) => error === reason);
    equal(Atomics.load(count, 0), 1, "no second attempt");
    equal(pool.stats().cancelled, 1);
    // The first attempt kills its thread: the second runs on its replacement.
    const died = new Int32Array(new SharedArrayBuffer(4));
    equal(
      await pool.run(task("dieOnce"), [died, "again"], { retry: { attempts: 2, delay: 1 } }),
      "again",
    );
    equal(pool.stats().workers.lost, 1);
    // Without a policy, the same death fails the request.
    const diedToo = new Int32Array(new SharedArrayBuffer(4));
    await rejects(pool.run(task("dieOnce"), [diedToo, "again"]), WorkerLostError);
  },
);

poolTest(
  "The pool's retry is every request's default (a request may set its own); map() and put requests retry too",
  { workers: 2, retry: { attempts: 2, delay: 1 } },
  async (pool) => {
    const a = calls();
    equal(await pool.run(task("failTimes"), [a.calls, a.times, 2, "flaky"]), 2);
    const b = calls();
    await rejects(
      pool.run(task("failTimes"), [b.calls, b.times, 2, "flaky"], { retry: { attempts: 1 } }),
      TaskError,
    );
    const c = calls();
    const d = calls();
    const mapped: number[] = [];
    for await (
      const n of pool.map(task("failTimes"), [[c.calls, c.times, 2, "m"], [
        d.calls,
        d.times,
        1,
        "m",
      ]])
    ) {
      mapped.push(n as number);
    }
    deepEqual(mapped, [2, 1]);
    const e = calls();
    const results: unknown[] = [];
    await pool.putRequest(
      new WorkRequest(task("failTimes"), [e.calls, e.times, 3, "put"], {
        retry: { attempts: 3, delay: 1 },
        callback: (_, value) => results.push(value),
      }),
    );
    await pool.wait();
    deepEqual(results, [3]);
    // A stream is never retried, not even by the pool's default.
    await rejects(
      (async () => {
        for await (const _ of pool.stream(streams("failAfter"), [1])) { /* reads the one value */ }
      })(),
      TaskError,
    );
  },
);

Deno.test("retry is checked at the call, naming the field and quoting the value; nothing queued is lost", async () => {
  throws(
    () => new ThreadPool(0, { retry: { attempts: 0 } }),
    /'retry.attempts' must be an integer from 1 to 100: current value is 0/,
  );
  const pool = new ThreadPool(1);
  try {
    const queued = pool.run(task("add"), [1, 2]);
    const bad: [unknown, RegExp, ErrorConstructor][] = [
      [3, /'retry' must be an object such as \{ attempts: 3 \}: current value is 3/, TypeError],
      [{ attempts: 2, delay: -1 }, /'retry.delay' must be a number of milliseconds/, RangeError],
      [{ attempts: 2, delay: Infinity }, /'retry.delay' must be a finite number/, RangeError],
      [
        { attempts: 2, backoff: "linear" },
        /'retry.backoff' must be "fixed" or "exponential": current value is "linear"/,
        TypeError,
      ],
      [
        { attempts: 2, jitter: 2 },
        /'retry.jitter' must be a number from 0 to 1: current value is 2/,
        RangeError,
      ],
      [{ attempts: 2, timeouts: "yes" }, /'retry.timeouts'/, TypeError],
      [{ attempts: 2, retryOn: true }, /'retry.retryOn' must be a function/, TypeError],
    ];
    for (const [retry, message, kind] of bad) {
      await rejects(pool.run(task("add"), [1, 2], { retry: retry as never }), (error) => {
        ok(error instanceof kind && message.test(error.message), String(error));
        return true;
      });
    }
    throws(() => new WorkRequest(task("add"), [1, 2], { retry: { attempts: 1.5 } }), RangeError);
    throws(
      () => pool.stream(streams("count"), [1], { retry: { attempts: 2 } }),
      /a stream tried again/,
    );
    await rejects(
      pool.map(task("add"), [[1, 2]], { chunkSize: 2, retry: { attempts: 2 } }).next(),
      /both a 'retry' policy and 'chunkSize' above 1/,
    );
    equal(await queued, 3);
  } finally {
    await pool.close();
  }
  equal(pool.liveThreads, 0);
});
