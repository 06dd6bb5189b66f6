import { deepEqual, equal, match, notEqual, ok } from "node:assert/strict";
import { flags, poolTest, task } from "./helpers.ts";

poolTest(
  "Results sent by the lane reach the pool while the worker's next task blocks its thread",
  { workers: 1 },
  async (pool) => {
    // add measured tiny (its results may wait for a few more before the pool is rung), and
    // blockFor loaded and measured slower (1 ms), so that it runs at once when its turn comes.
    for (let i = 0; i < 20; i++) await pool.run(task("add"), [i, 1]);
    await pool.run(task("blockFor"), [flags(), 1]);
    const flag = flags();
    const tiny = Array.from({ length: 5 }, (_, i) => pool.run(task("add"), [i, 1]));
    const blocked = pool.run(task("blockFor"), [flag, 10_000]);
    // Held back until blockFor ends, they would come after its 10 s: it would time out.
    equal((await Promise.all(tiny)).join(), "1,2,3,4,5");
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
    notEqual(await blocked, "timed-out");
  },
);

for (const lane of [true, false]) {
  poolTest(
    `An argument that throws when it is read to be sent fails its own request with a TypeError, and the requests around it run (lane ${
      lane ? "on" : "off"
    })`,
    { workers: 1, lane },
    async (pool) => {
      // The call's own check reads the getter once and passes; reading it again to send it throws.
      let reads = 0;
      const tricky = {
        get value() {
          if (reads++ > 0) throw new RangeError("read twice");
          return 1;
        },
      };
      const outcomes = await Promise.allSettled([
        pool.run(task("echo"), [{ a: 1 }]),
        pool.run(task("echo"), [tricky]),
        pool.run(task("echo"), [{ b: 2 }]),
      ]);
      deepEqual(outcomes[0], { status: "fulfilled", value: { a: 1 } });
      deepEqual(outcomes[2], { status: "fulfilled", value: { b: 2 } });
      const failed = outcomes[1];
      equal(failed.status, "rejected");
      const error = (failed as PromiseRejectedResult).reason;
      ok(error instanceof TypeError, String(error));
      match(error.message, /Cannot send the arguments of task "echo" to a worker: read twice/);
      equal(pool.stats().failed, 1);
      // The pool goes on.
      equal(await pool.run(task("add"), [2, 3]), 5);
    },
  );
}

for (const lane of [true, false]) {
  poolTest(
    `A request that cannot be sent does not hold up the requests queued behind it (lane ${
      lane ? "on" : "off"
    })`,
    { workers: 1, lane },
    async (pool) => {
      // A WeakMap passes the call's check and fails structured cloning; on a fresh worker of
      // one, it is the only request the first pull sends, and the others wait behind it.
      const outcomes = await Promise.allSettled([
        pool.run(task("echo"), [new WeakMap()]),
        pool.run(task("echo"), [1]),
        pool.run(task("echo"), [2]),
      ]);
      const [failed, ...rest] = outcomes;
      equal(failed.status, "rejected");
      ok((failed as PromiseRejectedResult).reason instanceof TypeError);
      deepEqual(rest, [{ status: "fulfilled", value: 1 }, { status: "fulfilled", value: 2 }]);
    },
  );
}
