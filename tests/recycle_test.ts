import { deepEqual, equal } from "node:assert/strict";
import { poolTest } from "./helpers.ts";

const count = { module: new URL("./fixtures/stateful.ts", import.meta.url), name: "count" };

poolTest(
  "maxTasksPerWorker replaces a worker's thread after that many tasks",
  { workers: 1, maxTasksPerWorker: 3 },
  async (pool) => {
    const calls: number[] = [];
    for (let i = 0; i < 7; i++) {
      const [loads, call] = await pool.run(count) as [number, number];
      equal(loads, 1, "each thread loads the module once");
      calls.push(call);
    }
    // Module state starts afresh on each new thread.
    deepEqual(calls, [1, 2, 3, 1, 2, 3, 1]);
    equal(pool.recycled, 2);
    equal(pool.size, 1);
  },
);

poolTest(
  "Recycling keeps every request when many are queued",
  { workers: 2, maxTasksPerWorker: 5, prefetch: 2 },
  async (pool) => {
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => pool.run(count).then(() => i)),
    );
    equal(results.length, 200);
    equal(pool.recycled >= 30, true, `recycled ${pool.recycled} times`);
  },
);
