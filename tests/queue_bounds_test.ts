import { deepEqual, equal, rejects } from "node:assert/strict";
import { PoolClosedError, QueueFullError, ThreadPool, WorkRequest } from "../mod.ts";
import { Gate, occupy, occupyWithRequest, poolTest, task, turn } from "./helpers.ts";

const tracked = { module: new URL("./fixtures/tracked.ts", import.meta.url), name: "tracked" };

poolTest(
  "ThreadPool.putRequest() waits while the queue is full and rejects with QueueFullError when told not to",
  { workers: 1, maxQueue: 2 },
  async (pool) => {
    const gate = await occupyWithRequest(pool);
    await pool.putRequest(new WorkRequest(task("add"), [1, 1]));
    await pool.putRequest(new WorkRequest(task("add"), [2, 2]));
    equal(pool.queued, 2);

    await rejects(
      pool.putRequest(new WorkRequest(task("add"), [3, 3]), { block: false }),
      (error: Error) =>
        error instanceof QueueFullError && /2 requests are waiting/.test(error.message),
    );
    await rejects(
      pool.putRequest(new WorkRequest(task("add"), [3, 3]), { timeout: 1 }),
      /still full after 1 ms/,
    );
    await rejects(
      pool.putRequest(new WorkRequest(task("add"), [3, 3]), { timeout: -1 }),
      RangeError,
    );

    let admitted = false;
    const blocked = new WorkRequest(task("add"), [4, 4]);
    const putting = pool.putRequest(blocked).then(() => admitted = true);
    await turn();
    equal(admitted, false, "putRequest() is still waiting for room");
    await rejects(pool.putRequest(blocked), /already put/, "a request waiting for room is taken");
    equal(pool.pending, 3, "a request waiting for room is not pending yet");

    gate.open();
    await putting;
    equal(admitted, true);
    equal(pool.pending, 4);
    await pool.wait();
  },
);

poolTest(
  "A request refused with QueueFullError can be put again later",
  { workers: 1, maxQueue: 1 },
  async (pool) => {
    const gate = await occupyWithRequest(pool);
    await pool.putRequest(new WorkRequest(task("add"), [1, 1]));
    const request = new WorkRequest(task("add"), [5, 5]);
    await rejects(pool.putRequest(request, { block: false }), QueueFullError);
    gate.open();
    await pool.putRequest(request);
    await pool.wait();
    equal(request.exception, false);
  },
);

poolTest(
  "maxQueue counts requests handed ahead to a worker and not begun",
  { workers: 1, maxQueue: 1, prefetch: 1 },
  async (pool) => {
    const { gate, running } = await occupy(pool, 1);
    const handed = pool.run(task("add"), [1, 2]);
    equal(pool.queued, 1);
    await rejects(
      pool.putRequest(new WorkRequest(task("add"), [1, 1]), { block: false }),
      QueueFullError,
    );
    gate.open();
    equal(await running, 1);
    equal(await handed, 3);
  },
);

poolTest(
  "A producer waiting for room is let in as soon as a queued task starts",
  { workers: 1, maxQueue: 1 },
  async (pool) => {
    const gate = new Gate();
    // Sent to the idle worker, it counts as queued until the worker starts it.
    const running = pool.run(task("gate"), gate.args(1));
    await pool.putRequest(new WorkRequest(task("add"), [1, 1]));
    // Room came when the worker took the gate task: the gate is still shut,
    // so the task cannot have finished.
    let finished = false;
    running.then(() => finished = true);
    await turn();
    equal(finished, false);
    gate.open();
    equal(await running, 1);
    await pool.wait();
  },
);

poolTest(
  "run() waits for room under maxQueue, and every producer gets in, in order",
  { workers: 2, maxQueue: 3 },
  async (pool) => {
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => pool.run(task("add"), [i, 0])),
    );
    deepEqual(results, Array.from({ length: 200 }, (_, i) => i));
    equal(pool.queued, 0);
  },
);

poolTest(
  "maxResults holds back put requests until poll() takes results",
  { workers: 2, maxResults: 1 },
  async (pool) => {
    const counters = new Int32Array(new SharedArrayBuffer(8));
    const results: number[] = [];
    for (let i = 0; i < 4; i++) {
      await pool.putRequest(
        new WorkRequest(tracked, [counters, i, 5], {
          callback: (_, v) => results.push(v as number),
        }),
      );
    }
    equal(pool.queued >= 3, true, "only one request may run towards the result channel");
    await pool.wait();
    deepEqual(results.sort(), [0, 1, 2, 3]);
    equal(Atomics.load(counters, 1), 1, "never more than one at once with maxResults: 1");
  },
);

Deno.test("close() rejects producers waiting for room with PoolClosedError", async () => {
  const pool = new ThreadPool(1, { maxQueue: 1 });
  const { gate, running } = await occupy(pool, 1);
  const queued = pool.run(task("add"), [1, 1]);
  const waiting = pool.run(task("add"), [2, 2]);
  const closing = pool.close();
  await rejects(waiting, PoolClosedError);
  gate.open();
  equal(await running, 1);
  equal(await queued, 2);
  await closing;
  equal(pool.liveThreads, 0);
});
