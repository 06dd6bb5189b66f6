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

poolTest(
  "timeout: Infinity, on the call or the pool, is no bound: the task runs to its end",
  { workers: 1, timeout: Infinity },
  async (pool) => {
    equal(await pool.run(task("delayed"), ["slow", 30]), "slow");
    equal(await pool.run(task("delayed"), ["slow", 30], { timeout: Infinity }), "slow");
    await using bounded = new ThreadPool(1, { timeout: 5 });
    // A call's Infinity lifts the pool's own bound.
    equal(await bounded.run(task("delayed"), ["slow", 30], { timeout: Infinity }), "slow");
    equal(pool.stats().timedOut + bounded.stats().timedOut, 0);
  },
);

poolTest(
  "cancelGrace: Infinity never gives up a thread: a cancelled task that ignores it runs to its end on it",
  { workers: 1, cancelGrace: Infinity },
  async (pool) => {
    const shared = flags();
    const controller = new AbortController();
    const spinning = pool.run(cancellable("spinFor"), [shared, 100], {
      signal: controller.signal,
    });
    await raised(shared);
    controller.abort(new Error("not wanted"));
    await rejects(spinning, /not wanted/);
    // One thread: this runs once the spin has ended on it.
    equal(await pool.run(task("add"), [1, 1]), 2);
    equal(pool.abandoned, 0);
  },
);

poolTest(
  "putRequest()'s timeout: Infinity waits for room as long as it takes",
  { workers: 1, maxQueue: 1 },
  async (pool) => {
    const shared = flags();
    const first = pool.run(cancellable("spinFor"), [shared, 50]);
    await raised(shared);
    const queued = pool.run(task("add"), [1, 1]);
    const waiting = pool.putRequest(new WorkRequest(task("add"), [2, 2]), { timeout: Infinity });
    await waiting;
    equal(await first, "spun");
    equal(await queued, 2);
    await pool.wait();
  },
);

Deno.test("A duration over 2^31-1 ms (a timer's most) is refused at the call, naming the option and quoting it; Infinity is the way to say no bound", async () => {
  const tooLong = 2 ** 31;
  const refused = (name: string) => (error: Error) => {
    ok(error instanceof RangeError, String(error));
    ok(error.message.includes(`'${name}'`), error.message);
    ok(error.message.includes(String(tooLong)), error.message);
    ok(error.message.includes("Infinity for no bound"), error.message);
    return true;
  };
  for (const name of ["timeout", "idleTimeout", "cancelGrace"]) {
    let pool: ThreadPool | undefined;
    try {
      pool = new ThreadPool(1, { [name]: tooLong });
    } catch (error) {
      refused(name)(error as Error);
    }
    equal(pool, undefined, `new ThreadPool() accepted ${name}: ${tooLong}`);
  }
  await using pool = new ThreadPool(1);
  await rejects(pool.run(task("add"), [1, 1], { timeout: tooLong }), refused("timeout"));
  await rejects(
    pool.putRequest(new WorkRequest(task("add"), [1, 1]), { timeout: tooLong }),
    refused("timeout"),
  );
  equal(await pool.run(task("add"), [1, 1], { timeout: 2 ** 31 - 1 }), 2);
  equal(pool.pending, 0);
});
