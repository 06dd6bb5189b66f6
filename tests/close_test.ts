import { equal, ok, rejects, throws } from "node:assert/strict";
import { PoolClosedError, ThreadPool, WorkRequest } from "../mod.ts";
import { cancellable, flags, occupy, raised, task } from "./helpers.ts";

Deno.test("ThreadPool.close() waits for queued and running work, then stops every thread", async () => {
  const pool = new ThreadPool(2);
  const runs = Array.from({ length: 20 }, (_, i) => pool.run(task("delayed"), [i, 2]));
  const results: unknown[] = [];
  await pool.putRequest(
    new WorkRequest(task("add"), [1, 1], { callback: (_, v) => results.push(v) }),
  );
  equal(pool.closed, false);
  const closing = pool.close();
  equal(pool.closed, true, "closed from the call on: it takes no new request");
  await closing;
  equal(pool.liveThreads, 0);
  for (const [i, run] of runs.entries()) equal(await run, i);
  await pool.wait();
  equal(results[0], 2);
});

Deno.test("ThreadPool.close({ force: true }) fails everything pending with PoolClosedError at once", async () => {
  const pool = new ThreadPool(1);
  const { running } = await occupy(pool, 1);
  const queued = pool.run(task("add"), [1, 1]);
  const errors: Error[] = [];
  const request = new WorkRequest(task("add"), [2, 2], { excCallback: (_, e) => errors.push(e) });
  await pool.putRequest(request);
  await pool.close({ force: true });
  equal(pool.liveThreads, 0);
  await rejects(running, PoolClosedError);
  await rejects(queued, PoolClosedError);
  await pool.wait();
  equal(errors.length, 1);
  ok(errors[0] instanceof PoolClosedError);
  equal(request.exception, true);
});

Deno.test("ThreadPool.close({ force: true }) cuts short a close() already waiting", async () => {
  const pool = new ThreadPool(1);
  const { running } = await occupy(pool, 1);
  const closing = pool.close();
  await pool.close({ force: true });
  await closing;
  await rejects(running, PoolClosedError);
  equal(pool.liveThreads, 0);
});

Deno.test("Every call on a closed pool reports PoolClosedError", async () => {
  const pool = new ThreadPool(1);
  await pool.close();
  await pool.close(); // closing twice is fine
  throws(() => pool.createWorkers(1), PoolClosedError);
  await rejects(pool.run(task("add"), [1, 1]), /Cannot run a task: the pool is closed/);
  await rejects(pool.putRequest(new WorkRequest(task("add"), [1, 1])), PoolClosedError);
  await rejects(pool.dismissWorkers(1), PoolClosedError);
  equal(pool.liveThreads, 0);
});

Deno.test("await using closes the pool", async () => {
  let outer: ThreadPool;
  {
    await using pool = new ThreadPool(1);
    outer = pool;
    equal(await pool.run(task("add"), [1, 1]), 2);
  }
  equal(outer.liveThreads, 0);
  throws(() => outer.createWorkers(1), PoolClosedError);
});

Deno.test("close() waits for a cancelled task that does not stop for its grace period only", async () => {
  const pool = new ThreadPool(1, { cancelGrace: 20 });
  const shared = flags();
  const controller = new AbortController();
  const running = pool.run(cancellable("spinFor"), [shared, 1_000], { signal: controller.signal });
  await raised(shared);
  controller.abort();
  await rejects(running, (error: Error) => error.name === "AbortError");
  await pool.close();
  equal(pool.abandoned, 1);
  equal(pool.liveThreads, 0);
});

Deno.test("close({ force: true }) does not wait for a task spinning on the CPU", async () => {
  const pool = new ThreadPool(1);
  const shared = flags();
  const running = pool.run(cancellable("spinFor"), [shared, 1_000]);
  await raised(shared);
  await pool.close({ force: true });
  await rejects(running, PoolClosedError);
  equal(pool.abandoned, 1);
  equal(pool.liveThreads, 0);
});

Deno.test("close() with requests queued and no worker left to run them fails them with PoolClosedError, not waits for ever", async () => {
  const pool = new ThreadPool(1);
  // One running on the worker, dismissed after it; the others queued behind it.
  const { gate, running } = await occupy(pool, 1);
  const queued = [pool.run(task("add"), [1, 2]), pool.run(task("add"), [3, 4])];
  const results: unknown[] = [];
  const errors: unknown[] = [];
  await pool.putRequest(
    new WorkRequest(task("add"), [5, 6], {
      callback: (_, value) => results.push(value),
      excCallback: (_, error) => errors.push(error),
    }),
  );
  pool.dismissWorkers(1);
  equal(pool.size, 0);
  const closing = pool.close();
  for (const run of queued) await rejects(run, PoolClosedError);
  // The running task still ends with its result: close() waits for it.
  gate.open();
  equal(await running, 1);
  await closing;
  await pool.poll({ block: false });
  equal(results.length, 0);
  equal(errors.length, 1);
  ok(errors[0] instanceof PoolClosedError);
  equal(pool.stats().failed, 3);
  equal(pool.liveThreads, 0);
});
