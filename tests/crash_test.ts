import { equal, ok, rejects } from "node:assert/strict";
import { TaskError, WorkerLostError, WorkRequest } from "../mod.ts";
import { occupy, poolTest, raw, task } from "./helpers.ts";

const deaths: [string, string, RegExp][] = [
  ["Deno.exit()", "exit", /Deno\.exit\(\)/],
  ["self.close()", "closeSelf", /self\.close\(\)/],
  ["an uncaught error", "uncaughtLater", /uncaught error: Error: thrown from a timer/],
  ["an unhandled rejection", "unhandledRejection", /nobody handles this/],
];

for (const [how, name, message] of deaths) {
  poolTest(
    `ThreadPool.run() rejects with WorkerLostError when the worker dies of ${how}, and replaces it`,
    { workers: 2 },
    async (pool) => {
      await rejects(pool.run(raw(name), [3]), (error: Error) => {
        ok(error instanceof WorkerLostError, String(error));
        ok(message.test(error.message), error.message);
        ok(error.cause instanceof Error);
        return true;
      });
      equal(pool.size, 2);
      ok(pool.liveThreads <= 2);
      equal(await pool.run(task("add"), [1, 2]), 3);
    },
  );
}

poolTest(
  "A dying worker fails only what it was running; what it was handed runs elsewhere",
  { workers: 1, prefetch: 2 },
  async (pool) => {
    const dying = pool.run(raw("exit"), [1]);
    const handed = [pool.run(task("add"), [1, 1]), pool.run(task("add"), [2, 2])];
    await rejects(dying, WorkerLostError);
    equal(await handed[0], 2);
    equal(await handed[1], 4);
    equal(pool.size, 1);
  },
);

poolTest(
  "A dying worker leaves requests queued behind it untouched",
  { workers: 1 },
  async (pool) => {
    const { gate, running: first } = await occupy(pool, 1);
    const dying = pool.run(raw("exit"), [1]);
    const queued = Array.from({ length: 5 }, (_, i) => pool.run(task("add"), [i, i]));
    equal(pool.queued, 6);
    gate.open();
    equal(await first, 1);
    await rejects(dying, WorkerLostError);
    for (const [i, result] of queued.entries()) equal(await result, 2 * i);
  },
);

poolTest(
  "A put request whose worker dies goes to excCallback with WorkerLostError",
  { workers: 1 },
  async (pool) => {
    const errors: Error[] = [];
    const request = new WorkRequest(raw("closeSelf"), [], {
      excCallback: (_, e) => errors.push(e),
    });
    await pool.putRequest(request);
    await pool.wait();
    equal(errors.length, 1);
    ok(errors[0] instanceof WorkerLostError);
    equal(request.exception, true);
  },
);

poolTest(
  "A task module that throws while loading fails its requests, not the pool",
  { workers: 1 },
  async (pool) => {
    const broken = { module: new URL("./fixtures/broken.ts", import.meta.url), name: "never" };
    await rejects(pool.run(broken), (error: Error) => {
      ok(error instanceof TaskError);
      ok(error.message.includes("broken at load"), error.message);
      return true;
    });
    await rejects(pool.run(broken), TaskError);
    equal(await pool.run(task("add"), [1, 1]), 2);
  },
);

poolTest(
  "A task module that calls Deno.exit() while loading fails that request only",
  { workers: 1 },
  async (pool) => {
    const exiting = { module: new URL("./fixtures/exits_on_load.ts", import.meta.url), name: "x" };
    await rejects(pool.run(exiting), WorkerLostError);
    equal(await pool.run(task("add"), [1, 1]), 2);
  },
);
