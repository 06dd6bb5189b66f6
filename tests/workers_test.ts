import { deepEqual, equal, rejects, throws } from "node:assert/strict";
import { ThreadPool, WorkRequest } from "../mod.ts";
import { Gate, occupy, poolTest, task } from "./helpers.ts";

Deno.test("new ThreadPool() throws RangeError for a bad worker count", () => {
  throws(
    () => new ThreadPool(-1),
    /'numWorkers' must be a non-negative integer: current value is -1/,
  );
  throws(() => new ThreadPool(1.5), RangeError);
  throws(() => new ThreadPool(Number.NaN), RangeError);
  throws(() => new ThreadPool(1, { maxQueue: -2 }), /'maxQueue'/);
  throws(() => new ThreadPool(1, { concurrency: 0 }), /'concurrency'/);
  throws(() => new ThreadPool(1, { idleTimeout: -1 }), /'idleTimeout'/);
});

Deno.test("new ThreadPool() defaults to one worker per core", async () => {
  const pool = new ThreadPool();
  equal(pool.size, navigator.hardwareConcurrency);
  await pool.close();
  equal(pool.liveThreads, 0);
});

poolTest(
  "A new pool starts its first thread at once, and the others when there is work for them",
  { workers: 3 },
  async (pool) => {
    equal(pool.size, 3);
    equal(pool.liveThreads, 1);
    // One request at a time: the first thread takes each.
    for (let i = 0; i < 3; i++) equal(await pool.run(task("add"), [i, 1]), i + 1);
    equal(pool.liveThreads, 1);
    const gates = [await occupy(pool), await occupy(pool), await occupy(pool)];
    equal(pool.liveThreads, 3);
    for (const { gate } of gates) gate.open();
    await Promise.all(gates.map(({ running }) => running));
  },
);

poolTest("ThreadPool.createWorkers() adds workers at any time", { workers: 1 }, async (pool) => {
  equal(pool.size, 1);
  pool.createWorkers(2);
  equal(pool.size, 3);
  equal(pool.liveThreads, 3);
  pool.createWorkers(0);
  equal(pool.size, 3);
  throws(
    () => pool.createWorkers(-1),
    /Cannot create workers as 'count' must be a non-negative integer: current value is -1/,
  );
  throws(() => pool.createWorkers(0.5), RangeError);
  equal(await pool.run(task("add"), [1, 2]), 3);
});

poolTest(
  "ThreadPool.dismissWorkers() removes the newest workers and rejects a bad count",
  { workers: 3 },
  async (pool) => {
    await rejects(pool.dismissWorkers(-1), RangeError);
    await pool.dismissWorkers(2, { join: true });
    equal(pool.size, 1);
    equal(pool.dismissed, 0, "joined workers are forgotten");
    equal(pool.liveThreads, 1);
    await pool.dismissWorkers(5);
    equal(pool.size, 0);
    await pool.joinAllDismissedWorkers();
    equal(pool.dismissed, 0);
    equal(pool.liveThreads, 0);
  },
);

poolTest(
  "ThreadPool.dismissWorkers() lets a worker finish its task and requeues what it had not begun",
  { workers: 1, prefetch: 1 },
  async (pool) => {
    const gate = new Gate();
    const running = pool.run(task("gate"), gate.args(1));
    const handed = pool.run(task("add"), [20, 22]);
    await gate.whenStarted();
    equal(pool.queued, 1, "the second task was handed ahead and counts as queued");
    await pool.dismissWorkers(1);
    equal(pool.size, 0);
    equal(pool.dismissed, 1);
    gate.open();
    equal(await running, 1, "the dismissed worker finished its current task");
    await pool.joinAllDismissedWorkers();
    equal(pool.liveThreads, 0);
    equal(pool.queued, 1, "the task it had not begun is back in the queue");
    pool.createWorkers(1);
    equal(await handed, 42);
  },
);

poolTest("ThreadPool pool size can change while work is running", { workers: 2 }, async (pool) => {
  const results: number[] = [];
  const requests = Array.from(
    { length: 60 },
    (_, i) =>
      new WorkRequest(task("delayed"), [i, 1], { callback: (_, v) => results.push(v as number) }),
  );
  for (const [i, request] of requests.entries()) {
    await pool.putRequest(request);
    if (i === 10) pool.createWorkers(3);
    if (i === 30) await pool.dismissWorkers(4);
  }
  await pool.wait();
  await pool.joinAllDismissedWorkers();
  equal(pool.size, 1);
  deepEqual(results.sort((a, b) => a - b), Array.from({ length: 60 }, (_, i) => i));
});

poolTest(
  "ThreadPool stops idle threads and restarts them for new work, keeping its size",
  { workers: 2, idleTimeout: 0 },
  async (pool) => {
    equal(await pool.run(task("add"), [1, 1]), 2);
    // Wait for the event (threads stopping), not for a time.
    while (pool.liveThreads > 0) await new Promise((resolve) => setTimeout(resolve, 5));
    equal(pool.size, 2);
    equal(await pool.run(task("add"), [2, 2]), 4);
  },
);
