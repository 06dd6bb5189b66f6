import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import { TaskError, ThreadPool, WorkerLostError, WorkRequest } from "../mod.ts";
import type * as Initialized from "./fixtures/initialized.ts";
import { taskModule } from "../src/core/task.ts";

const module = new URL("./fixtures/initialized.ts", import.meta.url);
const initialized = taskModule<typeof Initialized>(module);

/** Runs `body` with a pool, always closes it, and checks that no thread is left. */
async function withPool(
  pool: ThreadPool,
  body: (pool: ThreadPool) => Promise<void>,
): Promise<void> {
  try {
    await body(pool);
  } finally {
    await pool.close({ force: true });
  }
  equal(pool.liveThreads, 0, "a worker thread is still alive after close()");
}

Deno.test("An initializer runs once on every new thread, before its first task", async () => {
  const counter = new Int32Array(new SharedArrayBuffer(4));
  const initializer = { ...initialized("prepare"), args: [100, counter] as [number, Int32Array] };
  await withPool(new ThreadPool(2, { initializer, idleTimeout: 0 }), async (pool) => {
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => pool.run(initialized("addToBase"), [i])),
    );
    deepEqual(results, Array.from({ length: 50 }, (_, i) => 100 + i));
    const before = Atomics.load(counter, 0);
    ok(before >= 1 && before <= 2, `${before} threads were prepared`);
    // Idle threads stop; the next ones are prepared again, by design.
    while (pool.liveThreads > 0) {
      await new Promise((resolve) => pool.addEventListener("workerexit", resolve, { once: true }));
    }
    equal(await pool.run(initialized("addToBase"), [1]), 101);
    ok(Atomics.load(counter, 0) > before, "a restarted thread ran the initializer");
  });
});

Deno.test("A thread replaced after a crash or recycling runs the initializer too", async () => {
  const counter = new Int32Array(new SharedArrayBuffer(4));
  const initializer = { ...initialized("prepare"), args: [1, counter] as [number, Int32Array] };
  await withPool(new ThreadPool(1, { initializer, maxTasksPerWorker: 3 }), async (pool) => {
    for (let i = 0; i < 10; i++) equal(await pool.run(initialized("addToBase"), [i]), 1 + i);
    ok(Atomics.load(counter, 0) >= 4, `only ${Atomics.load(counter, 0)} threads prepared`);
    equal(pool.recycled >= 3, true);
  });
});

Deno.test("An initializer that throws fails the requests waiting for that thread, and none hangs", async () => {
  const initializer = initialized("failing");
  await withPool(new ThreadPool(2, { initializer }), async (pool) => {
    const errors: Error[] = [];
    await pool.putRequest(
      new WorkRequest(initialized("addToBase"), [1], { excCallback: (_, e) => errors.push(e) }),
    );
    const runs = await Promise.allSettled(
      Array.from({ length: 5 }, (_, i) => pool.run(initialized("addToBase"), [i])),
    );
    await pool.wait();
    for (const outcome of [...runs.map((r) => (r as PromiseRejectedResult).reason), ...errors]) {
      ok(outcome instanceof WorkerLostError, String(outcome));
      match(outcome.message, /its initializer failed: RangeError: the database is not there/);
      ok(outcome.cause instanceof TaskError);
      ok((outcome.cause as TaskError).cause instanceof RangeError);
    }
    equal(pool.size, 2, "the pool keeps its size");
  });
});

Deno.test("After an initializer fails on one thread, the next thread is tried afresh", async () => {
  const counter = new Int32Array(new SharedArrayBuffer(4));
  const initializer = { ...initialized("failingOnce"), args: [counter] as [Int32Array] };
  await withPool(new ThreadPool(1, { initializer }), async (pool) => {
    await rejects(pool.run(initialized("addToBase"), [1]), /the first thread failed/);
    equal(await pool.run(initialized("addToBase"), [1]), 8);
    equal(Atomics.load(counter, 0), 2, "a second thread ran the initializer");
  });
});

Deno.test("An initializer that never finishes gives up its thread after its timeout", async () => {
  const initializer = { ...initialized("never"), timeout: 50 };
  await withPool(new ThreadPool(1, { initializer }), async (pool) => {
    const error = await pool.run(initialized("addToBase"), [1]).catch((e) => e);
    ok(error instanceof WorkerLostError, String(error));
    match(error.message, /its initializer did not finish within 50 ms/);
  });
});

Deno.test("new ThreadPool() refuses a malformed initializer", () => {
  for (
    const [initializer, message] of [
      ["setup", /'initializer' must be a task spec/],
      [{ module: "tasks.ts" }, /not an absolute URL/],
      [{ module, name: "prepare", args: "x" }, /'initializer\.args' must be an array/],
      [{ module, name: "prepare", args: [() => 1] }, /initializer\.args\[0\].*a function/],
      [{ module, name: "prepare", timeout: -1 }, /'initializer\.timeout'/],
    ] as const
  ) {
    let thrown: unknown;
    try {
      new ThreadPool(0, { initializer: initializer as never });
    } catch (error) {
      thrown = error;
    }
    ok(thrown instanceof TypeError || thrown instanceof RangeError, String(thrown));
    match((thrown as Error).message, message);
  }
});

Deno.test("A pool with permissions grants its workers the initializer's module", async () => {
  const counter = new Int32Array(new SharedArrayBuffer(4));
  const initializer = { ...initialized("prepare"), args: [5, counter] as [number, Int32Array] };
  // This repository's deno.json enables "worker-options".
  await withPool(new ThreadPool(1, { initializer, permissions: "none" }), async (pool) => {
    equal(await pool.run(initialized("addToBase"), [1]), 6);
  });
});

Deno.test("A pool with an initializer starts every thread at once, so each is prepared before work comes", async () => {
  const counter = new Int32Array(new SharedArrayBuffer(4));
  const initializer = { ...initialized("prepare"), args: [7, counter] as [number, Int32Array] };
  await withPool(new ThreadPool(3, { initializer }), async (pool) => {
    equal(pool.liveThreads, 3);
    // Each prepares itself with no work given: the count reaches 3.
    for (let now = Atomics.load(counter, 0); now < 3; now = Atomics.load(counter, 0)) {
      const { async, value } = Atomics.waitAsync(counter, 0, now);
      if (async) await value;
    }
    equal(await pool.run(initialized("addToBase"), [1]), 8);
  });
});
