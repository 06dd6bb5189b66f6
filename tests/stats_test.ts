import { deepEqual, equal, ok } from "node:assert/strict";
import { ThreadPool } from "../mod.ts";
import { cancellable, flags, occupy, poolTest, raised, raw, task } from "./helpers.ts";

Deno.test("ThreadPool.stats() starts empty", async () => {
  await using pool = new ThreadPool(2);
  const stats = pool.stats();
  deepEqual(
    { ...stats, utilisation: stats.utilisation.length },
    {
      queued: 0,
      running: 0,
      completed: 0,
      failed: 0,
      cancelled: 0,
      timedOut: 0,
      retried: 0,
      workers: { live: 2, dismissed: 0, lost: 0, abandoned: 0, recycled: 0 },
      waitTime: { p50: 0, p90: 0, p99: 0, max: 0, count: 0 },
      runTime: { p50: 0, p90: 0, p99: 0, max: 0, count: 0 },
      utilisation: 2,
    },
  );
});

poolTest(
  "ThreadPool.stats() counts each outcome: success, failure, cancel, timeout, lost worker",
  { workers: 2, cancelGrace: 10 },
  async (pool) => {
    for (let i = 0; i < 5; i++) await pool.run(task("add"), [i, i]);
    await pool.run(raw("fail"), ["no"]).catch(() => {});
    await pool.run(raw("reject"), ["no"]).catch(() => {});
    await pool.run(task("exit"), [1]).catch(() => {});
    const shared = flags();
    const controller = new AbortController();
    const aborted = pool.run(cancellable("cooperativeWait"), [shared], {
      signal: controller.signal,
    });
    await raised(shared);
    controller.abort();
    await aborted.catch(() => {});
    await pool.run(task("add"), [1, 1], { signal: AbortSignal.abort() }).catch(() => {});
    await pool.run(cancellable("hang"), [flags()], { timeout: 5 }).catch(() => {});
    const stats = pool.stats();
    equal(stats.completed, 5);
    equal(stats.failed, 3, "two task errors and one lost worker");
    equal(stats.cancelled, 1, "the one refused at the call never entered the pool");
    equal(stats.timedOut, 1);
    equal(stats.workers.lost, 1);
    equal(stats.runTime.count, 10);
    ok(stats.runTime.max >= stats.runTime.p99 && stats.runTime.p99 >= stats.runTime.p50);
    ok(stats.waitTime.count >= 10);
  },
);

poolTest(
  "ThreadPool.stats() shows what is queued and running now",
  { workers: 1 },
  async (pool) => {
    const { gate, running } = await occupy(pool, 1);
    const queued = [pool.run(task("add"), [1, 1]), pool.run(task("add"), [2, 2])];
    const stats = pool.stats();
    equal(stats.running, 1);
    equal(stats.queued, 2);
    ok(stats.utilisation[0]! > 0 && stats.utilisation[0]! <= 1);
    gate.open();
    await Promise.all([running, ...queued]);
    equal(pool.stats().running, 0);
    equal(pool.stats().completed, 3);
  },
);

poolTest("After a map() left early, stats() counts as completed exactly the tasks that ran", {
  workers: 1,
}, async (pool) => {
  const calls = new Int32Array(new SharedArrayBuffer(4));
  function* inputs() {
    for (let i = 0;; i++) yield [calls, i];
  }
  for await (const value of pool.map(task("counted"), inputs())) if (value === 2) break;
  await pool.close();
  const { completed, cancelled } = pool.stats();
  equal(completed + cancelled, Atomics.load(calls, 0) + cancelled);
  ok(completed >= 3);
});
