import { equal, notEqual } from "node:assert/strict";
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
