import { equal, ok, rejects } from "node:assert/strict";
import { TaskTimeoutError, ThreadPool, WorkRequest } from "../mod.ts";
import { cancellable, flags, occupy, poolTest, raised, task } from "./helpers.ts";

function timedOut(ms: number) {
  return (error: Error) => {
    ok(error instanceof TaskTimeoutError, String(error));
    ok(error.message.includes(`timed out after ${ms} ms`), error.message);
    return true;
  };
}

poolTest(
  "A task past its timeout rejects with TaskTimeoutError, and an async cooperative one keeps its worker",
  { workers: 1 },
  async (pool) => {
    const shared = flags();
    await rejects(
      pool.run(cancellable("cooperativeWait"), [shared], { timeout: 10 }),
      timedOut(10),
    );
    await raised(shared, 1);
    equal(await pool.run(task("add"), [1, 1]), 2);
    equal(pool.abandoned, 0);
  },
);

poolTest(
  "A sync task that reads isCancelled() stops at its timeout and keeps its worker",
  { workers: 1 },
  async (pool) => {
    const shared = flags();
    await rejects(
      pool.run(cancellable("cooperativeSpin"), [shared], { timeout: 10 }),
      timedOut(10),
    );
    await raised(shared, 1);
    equal(await pool.run(task("add"), [1, 1]), 2);
    equal(pool.abandoned, 0);
  },
);

poolTest(
  "An async task that hangs past its timeout is abandoned after cancelGrace, and replaced",
  { workers: 1, cancelGrace: 10 },
  async (pool) => {
    await rejects(pool.run(cancellable("hang"), [flags()], { timeout: 10 }), timedOut(10));
    equal(await pool.run(task("add"), [1, 2]), 3);
    equal(pool.abandoned, 1);
    equal(pool.size, 1);
  },
);

poolTest(
  "A sync task that spins past its timeout is abandoned, replaced at once, and counted",
  { workers: 1, cancelGrace: 10 },
  async (pool) => {
    await rejects(
      pool.run(cancellable("spinFor"), [flags(), 1_000], { timeout: 10 }),
      timedOut(10),
    );
    // The spinning thread cannot be stopped (terminate() does not interrupt
    // synchronous code); a replacement runs this while it spins on.
    equal(await pool.run(task("add"), [1, 2]), 3);
    equal(pool.abandoned, 1);
  },
);

poolTest(
  "The timeout clock starts when the task starts, not when it is queued",
  { workers: 1 },
  async (pool) => {
    const { gate, running: blocking } = await occupy(pool);
    const queued = pool.run(task("add"), [1, 1], { timeout: 20 });
    // The request waits in the queue three times longer than its timeout.
    await new Promise((resolve) => setTimeout(resolve, 60));
    gate.open();
    equal(await blocking, 0);
    equal(await queued, 2);
  },
);

poolTest(
  "The pool's timeout applies to requests that set none, and a request's own wins",
  { workers: 2, timeout: 10, cancelGrace: 10 },
  async (pool) => {
    await rejects(pool.run(cancellable("hang"), [flags()]), timedOut(10));
    await rejects(pool.run(cancellable("hang"), [flags()], { timeout: 30 }), timedOut(30));
    equal(
      await pool.run(task("delayed"), ["slow but allowed", 40], { timeout: 10_000 }),
      "slow but allowed",
    );
    const errors: Error[] = [];
    await pool.putRequest(
      new WorkRequest(cancellable("hang"), [flags()], { excCallback: (_, e) => errors.push(e) }),
    );
    await pool.wait();
    ok(errors[0] instanceof TaskTimeoutError);
  },
);

poolTest("A chunk of map() has the timeout as a whole", { workers: 1 }, async (pool) => {
  const inputs = [[1, 0], [2, 0]];
  const results: unknown[] = [];
  for await (const value of pool.map(task("delayed"), inputs, { chunkSize: 2, timeout: 5_000 })) {
    results.push(value);
  }
  equal(results.length, 2);
});

Deno.test("A bad timeout is refused at the call", async () => {
  await using pool = new ThreadPool(0);
  await rejects(pool.run(task("add"), [1, 1], { timeout: -1 }), RangeError);
  await rejects(pool.map(task("add"), [[1, 1]], { timeout: Number.NaN }).next(), RangeError);
  ok(true);
});
