import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import { TaskError, TaskTimeoutError, ThreadPool, type WorkerExitDetail } from "../mod.ts";
import { FINALIZED, PREPARED, UNPREPARED } from "./fixtures/initialized.ts";
import type * as Initialized from "./fixtures/initialized.ts";
import { taskModule } from "../src/core/task.ts";
import { runDeno } from "./helpers.ts";

const module = new URL("./fixtures/initialized.ts", import.meta.url);
const initialized = taskModule<typeof Initialized>(module);

/** A pool whose threads count themselves prepared and finalized in `counter`. */
function countingPool(workers: number, options: ConstructorParameters<typeof ThreadPool>[1] = {}) {
  const counter = new Int32Array(new SharedArrayBuffer(16));
  const pool = new ThreadPool(workers, {
    initializer: { ...initialized("prepare"), args: [10, counter] },
    finalizer: { ...initialized("finish"), args: [counter] },
    ...options,
  });
  const exits: WorkerExitDetail[] = [];
  // How many threads had been finalized when each exit was told.
  const finalizedAtExit: number[] = [];
  pool.addEventListener("workerexit", (event) => {
    exits.push((event as CustomEvent<WorkerExitDetail>).detail);
    finalizedAtExit.push(Atomics.load(counter, FINALIZED));
  });
  return { pool, counter, exits, finalizedAtExit };
}

/** Checks that each thread's exit was told once its finalizer had ended. */
function toldAfterFinalizing(finalizedAtExit: readonly number[]): void {
  finalizedAtExit.forEach((finalized, i) =>
    ok(finalized >= i + 1, `exit ${i + 1} was told with ${finalized} threads finalized`)
  );
}

/** Waits until `counter[index]` reaches `value`. */
async function reach(counter: Int32Array, index: number, value: number): Promise<void> {
  for (let now = Atomics.load(counter, index); now < value; now = Atomics.load(counter, index)) {
    const { async, value: woken } = Atomics.waitAsync(counter, index, now);
    if (async) await woken;
  }
}

Deno.test("A finalizer runs once on every thread that stops gracefully: idle, dismissed, recycled, closed", async () => {
  const { pool, counter, exits, finalizedAtExit } = countingPool(2, {
    idleTimeout: 0,
    maxTasksPerWorker: 5,
  });
  try {
    // Recycled: every fifth task on a thread; idle: at once after its work.
    const sums = await Promise.all(
      Array.from({ length: 20 }, (_, i) => pool.run(initialized("addToBase"), [i])),
    );
    deepEqual(sums, Array.from({ length: 20 }, (_, i) => 10 + i));
    while (pool.liveThreads > 0) {
      await new Promise((resolve) => pool.addEventListener("workerexit", resolve, { once: true }));
    }
    ok(exits.some((exit) => exit.reason === "recycled"), JSON.stringify(exits));
    ok(exits.some((exit) => exit.reason === "idle"), JSON.stringify(exits));
    equal(Atomics.load(counter, FINALIZED), Atomics.load(counter, PREPARED));
    // Dismissed: joinAllDismissedWorkers() waits for the finalizer.
    equal(await pool.run(initialized("addToBase"), [1]), 11);
    pool.dismissWorkers(2);
    await pool.joinAllDismissedWorkers();
    equal(Atomics.load(counter, FINALIZED), Atomics.load(counter, PREPARED));
    ok(exits.some((exit) => exit.reason === "dismissed"), JSON.stringify(exits));
  } finally {
    await pool.close();
  }
  equal(pool.liveThreads, 0);
  ok(exits.every((exit) => exit.error === undefined), JSON.stringify(exits));
  toldAfterFinalizing(finalizedAtExit);
  equal(Atomics.load(counter, UNPREPARED), 0, "a finalizer ran before its initializer");
});

Deno.test("close() resolves after every thread's finalizer has run", async () => {
  const { pool, counter, exits, finalizedAtExit } = countingPool(3);
  equal(pool.liveThreads, 3, "with an initializer every thread starts at once");
  await Promise.all(Array.from({ length: 30 }, (_, i) => pool.run(initialized("addToBase"), [i])));
  await pool.close();
  equal(Atomics.load(counter, PREPARED), 3);
  equal(Atomics.load(counter, FINALIZED), 3);
  deepEqual(exits.map((exit) => exit.reason), ["closed", "closed", "closed"]);
  toldAfterFinalizing(finalizedAtExit);
  equal(pool.liveThreads, 0);
});

Deno.test("A finalizer waits for an initializer still running, then runs", async () => {
  const counter = new Int32Array(new SharedArrayBuffer(16));
  const pool = new ThreadPool(1, {
    initializer: { ...initialized("prepareAfter"), args: [counter, 3] },
    finalizer: { ...initialized("finish"), args: [counter] },
  });
  await reach(counter, PREPARED, 1);
  const closed = pool.close();
  equal(pool.liveThreads, 1, "the thread runs its initializer, then its finalizer");
  Atomics.store(counter, 3, 1);
  Atomics.notify(counter, 3);
  await closed;
  equal(Atomics.load(counter, FINALIZED), 1);
  equal(Atomics.load(counter, UNPREPARED), 0, "the finalizer ran before the initializer ended");
  equal(pool.liveThreads, 0);
});

Deno.test("A finalizer never runs on a thread that died, was abandoned, or was stopped by close({ force: true })", async () => {
  const { pool, counter, exits } = countingPool(1, { cancelGrace: 20 });
  try {
    // The pool's finalizer works: a dismissed worker's thread runs it.
    equal(await pool.run(initialized("addToBase"), [1]), 11);
    await pool.dismissWorkers(1, { join: true });
    equal(Atomics.load(counter, FINALIZED), 1);
    pool.createWorkers(1);
    // Died: its thread had an uncaught error after answering.
    equal(await pool.run(initialized("crashSoon")), 1);
    while (!exits.some((exit) => exit.reason === "lost")) {
      await new Promise((resolve) => pool.addEventListener("workerexit", resolve, { once: true }));
    }
    equal(Atomics.load(counter, FINALIZED), 1);
    // Abandoned: a cancelled task would not stop.
    await rejects(pool.run(initialized("spin"), [Infinity], { timeout: 20 }), TaskTimeoutError);
    while (!exits.some((exit) => exit.reason === "abandoned")) {
      await new Promise((resolve) => pool.addEventListener("workerexit", resolve, { once: true }));
    }
    equal(Atomics.load(counter, FINALIZED), 1);
    // Forced: what runs is stopped now.
    const running = pool.run(initialized("spin"), [400]);
    await reach(counter, PREPARED, 4);
    await pool.close({ force: true });
    await rejects(running, /closed with force/);
  } finally {
    await pool.close({ force: true });
  }
  equal(pool.liveThreads, 0);
  equal(Atomics.load(counter, FINALIZED), 1, "a finalizer ran on a thread that could not run it");
});

Deno.test("A finalizer that fails or never finishes is reported, and its thread stops all the same", async () => {
  for (
    const [finalizer, expected] of [
      [{ ...initialized("finishFailing") }, /the connection was already closed/],
      [
        { ...initialized("never"), timeout: 30 },
        /did not finish within 30 ms on worker #1; its thread was stopped/,
      ],
    ] as const
  ) {
    const pool = new ThreadPool(1, { finalizer });
    const errors: unknown[] = [];
    const exits: WorkerExitDetail[] = [];
    pool.addEventListener("error", (event) => errors.push((event as ErrorEvent).error));
    pool.addEventListener(
      "workerexit",
      (event) => exits.push((event as CustomEvent<WorkerExitDetail>).detail),
    );
    equal(await pool.run(initialized("spin"), [0]), 0);
    await pool.close();
    equal(pool.liveThreads, 0);
    equal(errors.length, 1, String(errors));
    const [error] = errors;
    ok(error instanceof TaskError || error instanceof TaskTimeoutError, String(error));
    match((error as Error).message, expected);
    equal(exits.length, 1);
    equal(exits[0]?.reason, "closed");
    equal(exits[0]?.error, error);
  }
});

Deno.test("new ThreadPool() refuses a malformed finalizer, naming it", () => {
  for (
    const [finalizer, message] of [
      [
        "close",
        /^Cannot create the pool as 'finalizer' must be a task spec .*: current value is "close"$/,
      ],
      [{ module, name: "finish", args: "x" }, /'finalizer\.args' must be an array/],
      [{ module, name: "finish", timeout: -1 }, /'finalizer\.timeout'.*-1/],
    ] as const
  ) {
    let thrown: unknown;
    try {
      new ThreadPool(0, { finalizer: finalizer as never });
    } catch (error) {
      thrown = error;
    }
    ok(thrown instanceof TypeError || thrown instanceof RangeError, String(thrown));
    match((thrown as Error).message, message);
  }
});

Deno.test("A pool with permissions grants its workers the finalizer's module", async () => {
  const counter = new Int32Array(new SharedArrayBuffer(16));
  const pool = new ThreadPool(1, {
    finalizer: { ...initialized("finish"), args: [counter] },
    permissions: "none",
  });
  const errors: unknown[] = [];
  pool.addEventListener("error", (event) => errors.push((event as ErrorEvent).error));
  equal(await pool.run(initialized("spin"), [0]), 0);
  await pool.close();
  deepEqual(errors, []);
  equal(Atomics.load(counter, FINALIZED), 1);
  equal(pool.liveThreads, 0);
});

Deno.test("A script that forgets close() still exits, each thread finalized on its idle stop", async () => {
  const script = new URL("./fixtures/scripts/forgets_close_finalizer.ts", import.meta.url);
  const { code, stdout, stderr } = await runDeno(["--allow-read", script.pathname], {
    timeout: 20_000,
  });
  equal(code, 0, stderr);
  // Both threads started at once (the pool has an initializer); each is finalized.
  equal(stdout, "result 3\nfinalized a thread\nfinalized a thread\n");
});
