import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import { PoolClosedError, TaskTimeoutError, ThreadPool, WorkerLostError } from "../mod.ts";
import { cancellable, flags, poolTest, raised, task } from "./helpers.ts";

/** Ends a running request one of two ways: its signal aborts, or its timeout passes. */
const endings = ["abort", "timeout"] as const;
const reason = new Error("the caller gave up");

for (const concurrency of [2, 3]) {
  for (const ending of endings) {
    poolTest(
      `A task that ignores its ${ending} costs nothing to the ${
        concurrency - 1
      } running beside it (concurrency ${concurrency})`,
      { workers: 1, concurrency, cancelGrace: 20 },
      async (pool) => {
        const neighbours = Array.from({ length: concurrency - 1 }, (_, i) => {
          const shared = flags();
          return { shared, result: pool.run(cancellable("sleepFor"), [shared, 400, i]) };
        });
        for (const { shared } of neighbours) await raised(shared);
        const hung = flags();
        const controller = new AbortController();
        const options = ending === "abort" ? { signal: controller.signal } : { timeout: 10 };
        const ignoring = pool.run(cancellable("hang"), [hung], options);
        await raised(hung);
        controller.abort(reason);
        await rejects(ignoring, ending === "abort" ? (e) => e === reason : TaskTimeoutError);
        // Well past cancelGrace, the neighbours still finish on the thread beside it.
        const settled = await Promise.allSettled(neighbours.map(({ result }) => result));
        for (const [i, outcome] of settled.entries()) {
          deepEqual(outcome, { status: "fulfilled", value: i });
        }
        equal(pool.abandoned, 1, "the thread of the task that would not stop was given up");
        equal(await pool.run(task("add"), [1, 2]), 3);
        equal(pool.size, 1);
      },
    );
  }
}

poolTest(
  "A neighbour of a task stuck in synchronous code fails with WorkerLostError saying why",
  { workers: 1, concurrency: 2, cancelGrace: 20 },
  async (pool) => {
    const shared = flags();
    const neighbour = pool.run(cancellable("sleepFor"), [shared, 60_000, "never"]);
    await raised(shared);
    const spinning = flags();
    const stuck = pool.run(cancellable("spinFor"), [spinning, 1_500], { timeout: 10 });
    await rejects(stuck, TaskTimeoutError);
    await rejects(neighbour, (error) => {
      ok(error instanceof WorkerLostError, String(error));
      match(error.message, /a task beside it .*would not stop/);
      return true;
    });
    equal(pool.abandoned, 1);
    equal(await pool.run(task("add"), [1, 2]), 3);
  },
);

poolTest(
  "Tasks handed ahead to a thread whose task would not stop run on another",
  { workers: 1, prefetch: 4, cancelGrace: 20 },
  async (pool) => {
    const hung = flags();
    const ignoring = pool.run(cancellable("hang"), [hung], { timeout: 10 });
    const behind = [1, 2, 3].map((n) => pool.run(task("add"), [n, n]));
    await rejects(ignoring, TaskTimeoutError);
    deepEqual(
      await Promise.allSettled(behind),
      [2, 4, 6].map((value) => ({ status: "fulfilled", value })),
    );
    equal(pool.abandoned, 1);
  },
);

/** Results that shared memory can mirror exactly. */
const values: unknown[] = [
  0,
  -0,
  NaN,
  -Infinity,
  1.5,
  "",
  "short",
  "lone \ud800 surrogate",
  undefined,
  null,
  true,
  false,
];
/** And those it cannot: they are sent at once, never held. */
const unmirrored: unknown[] = ["x".repeat(65), { an: "object" }, [1, , 3], 10n, new Date(0)];

poolTest(
  "Results finished before a tiny task that blocks are delivered exactly, not lost with its thread",
  { workers: 1, cancelGrace: 20 },
  async (pool) => {
    // Teach the worker that this task is tiny, so that results wait in front of it.
    const warmUp = Array.from({ length: 300 }, (_, i) => i);
    for await (const _ of pool.map(cancellable("tinyOrBlock"), warmUp)) { /* drained */ }
    const block = new Int32Array(new SharedArrayBuffer(4));
    // The last ones wait, mirrored, in front of the task that blocks.
    const sent = [...unmirrored, ...values, ...unmirrored, ...values, ...values];
    const finished = sent.map((value) => pool.run(cancellable("tinyOrBlock"), [value]));
    const blocked = pool.run(cancellable("tinyOrBlock"), [-1, block, 3_000], { timeout: 10 });
    await rejects(blocked, TaskTimeoutError);
    const settled = await Promise.allSettled(finished);
    for (const [i, outcome] of settled.entries()) {
      deepEqual(outcome, { status: "fulfilled", value: sent[i] }, `result ${i}`);
    }
    equal(await pool.run(task("add"), [1, 2]), 3);
  },
);

Deno.test("close() waits for the tasks beside one that would not stop; force fails them, counted once", async () => {
  for (const force of [false, true]) {
    const pool = new ThreadPool(1, { concurrency: 2, cancelGrace: 20 });
    const shared = flags();
    const neighbour = pool.run(cancellable("sleepFor"), [shared, force ? 60_000 : 200, "done"]);
    await raised(shared);
    const hung = flags();
    await rejects(pool.run(cancellable("hang"), [hung], { timeout: 10 }), TaskTimeoutError);
    // Given up: a fresh worker has taken the thread's place.
    while (pool.abandoned === 0) await pool.run(task("add"), [1, 1]);
    await pool.close({ force });
    if (force) await rejects(neighbour, PoolClosedError);
    else equal(await neighbour, "done");
    equal(pool.abandoned, 1, "the given-up thread is counted once");
    equal(pool.liveThreads, 0);
  }
});
