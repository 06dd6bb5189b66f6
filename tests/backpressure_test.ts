import { deepEqual, equal, ok } from "node:assert/strict";
import { ThreadPool, WorkRequest } from "../mod.ts";
import { poolTest, task } from "./helpers.ts";

poolTest(
  "A producer that awaits waitForRoom() never holds more than maxQueue requests in the pool",
  { workers: 2, maxQueue: 8 },
  async (pool) => {
    const runs: Promise<number>[] = [];
    let most = 0;
    for (let i = 0; i < 3_000; i++) {
      await pool.waitForRoom();
      runs.push(pool.run(task("add"), [i, 0]));
      most = Math.max(most, pool.queued);
    }
    ok(most <= 8, `at most maxQueue requests waited to start: saw ${most}`);
    const results = await Promise.all(runs);
    deepEqual(results.slice(0, 3), [0, 1, 2]);
    equal(results[2_999], 2_999);
  },
);

poolTest(
  "A producer of put requests with maxQueue is held to maxQueue, however many it tries",
  { workers: 1, maxQueue: 4 },
  async (pool) => {
    let most = 0;
    let done = 0;
    const consumer = (async () => {
      // Consume concurrently, as a long-running producer/consumer would.
      while (done < 2_000) {
        await pool.poll({ block: true }).catch(() => {});
      }
    })();
    for (let i = 0; i < 2_000; i++) {
      await pool.putRequest(new WorkRequest(task("add"), [i, 0], { callback: () => done++ }));
      most = Math.max(most, pool.queued);
    }
    await consumer;
    ok(most <= 4, `queued stayed within maxQueue: saw ${most}`);
    equal(done, 2_000);
  },
);

Deno.test("waitForRoom() resolves at once on a pool without a bound", async () => {
  await using pool = new ThreadPool(0);
  await pool.waitForRoom();
  equal(pool.queued, 0);
});
