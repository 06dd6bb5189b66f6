import { equal, ok, rejects, throws } from "node:assert/strict";
import { ThreadPool, WorkRequest } from "../mod.ts";
import { poolTest, task, withinRate } from "./helpers.ts";

poolTest(
  "A rate limit holds over more than 5 s: no window of `per` ms holds more than `max` starts, and none is failed",
  { workers: 2, rateLimit: { max: 10, per: 500 } },
  async (pool) => {
    const starts = await Promise.all(
      Array.from({ length: 110 }, () => pool.run(task("startedAt"))),
    );
    const span = Math.max(...starts) - Math.min(...starts);
    ok(span >= 5_000, `110 starts at 10 per 500 ms took ${span} ms`);
    withinRate(starts, 10, 500);
    equal(pool.stats().completed, 110);
  },
);

poolTest(
  "Limits by key are independent of each other: one key waiting for its limit does not hold up another",
  { workers: 2, rateLimits: { slow: { max: 1, per: 1_000 }, fast: { max: 20, per: 500 } } },
  async (pool) => {
    const slow = Array.from(
      { length: 4 },
      () => pool.run(task("startedAt"), [], { rateKey: "slow" }),
    );
    const fast = Array.from(
      { length: 30 },
      () => pool.run(task("startedAt"), [], { rateKey: "fast" }),
    );
    const unlimited = await pool.run(task("add"), [1, 2]);
    const [slowStarts, fastStarts] = await Promise.all([Promise.all(slow), Promise.all(fast)]);
    equal(unlimited, 3);
    withinRate(slowStarts, 1, 1_000);
    withinRate(fastStarts, 20, 500);
    // Queued behind four slow ones, the fast ones were all done before the slow key's third turn.
    ok(Math.max(...fastStarts) < slowStarts.toSorted((a, b) => a - b)[2]!);
  },
);

poolTest(
  "Rate limits apply to map() and put requests, in the order queued within a key",
  { workers: 1, rateLimits: { api: { max: 5, per: 200 } } },
  async (pool) => {
    const starts: number[] = [];
    for await (
      const at of pool.map(task("startedAt"), [[], [], [], [], [], [], []], { rateKey: "api" })
    ) {
      starts.push(at as number);
    }
    await pool.putRequest(
      new WorkRequest(task("startedAt"), [], {
        rateKey: "api",
        callback: (_, at) => starts.push(at),
      }),
    );
    await pool.wait();
    equal(starts.length, 8);
    ok(starts.every((at, i) => i === 0 || at > starts[i - 1]!), "in order");
    withinRate(starts, 5, 200);
  },
);

Deno.test("rateLimit, rateLimits and rateKey are checked at the call, naming the option and quoting the value", async () => {
  throws(
    () => new ThreadPool(0, { rateLimit: { max: 0, per: 1000 } }),
    /'rateLimit.max' must be an integer of at least 1: current value is 0/,
  );
  throws(
    () => new ThreadPool(0, { rateLimit: { max: 5, per: -1 } }),
    /'rateLimit.per' must be a number of milliseconds above 0/,
  );
  throws(
    () => new ThreadPool(0, { rateLimits: { a: 5 as never } }),
    /'rateLimits.a' must be an object/,
  );
  const pool = new ThreadPool(1, { rateLimits: { api: { max: 5, per: 100 } } });
  try {
    const queued = pool.run(task("add"), [1, 2], { rateKey: "api" });
    await rejects(
      pool.run(task("add"), [1, 2], { rateKey: "other" }),
      /'rateKey' must be one of the pool's 'rateLimits' keys \("api"\): current value is "other"/,
    );
    await rejects(pool.run(task("add"), [1, 2], { rateKey: 5 as never }), TypeError);
    equal(await queued, 3);
  } finally {
    await pool.close();
  }
  equal(pool.liveThreads, 0);
});
