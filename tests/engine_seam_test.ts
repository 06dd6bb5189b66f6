import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { TaskError, TaskTimeoutError, WorkRequest } from "../mod.ts";
import { PoolFront } from "../src/pool/front.ts";
import { InProcessEngine } from "./engines/in_process_engine.ts";
import { fixtures, raw, task } from "./helpers.ts";

function front(engine: InProcessEngine, maxQueue = 0): PoolFront {
  return new PoolFront(engine, {
    maxQueue,
    maxResults: 0,
    timeout: undefined,
    retry: undefined,
    rateLimits: new Map(),
    limiter: null,
    priority: 0,
    noWorkersHint: "",
    streamHighWaterMark: 1_024,
    events: { idle() {}, drain() {} },
  });
}

Deno.test("The front runs on a second engine: the ancestor's API, run(), map(), results(), cancellation and timeouts", async (t) => {
  const engine = new InProcessEngine(2);
  const pool = front(engine);

  await t.step("putRequest(), poll() and wait() hand each outcome to its callback", async () => {
    const results: number[] = [];
    const errors: Error[] = [];
    for (let i = 0; i < 5; i++) {
      await pool.putRequest(
        new WorkRequest<number>(task("add"), [i, i], { callback: (_, sum) => results.push(sum) }),
        {},
      );
    }
    await pool.putRequest(
      new WorkRequest(raw("fail"), ["no"], { excCallback: (_, error) => errors.push(error) }),
      {},
    );
    await pool.wait();
    deepEqual(results.sort((a, b) => a - b), [0, 2, 4, 6, 8]);
    ok(errors[0] instanceof TaskError);
    equal(pool.pending, 0);
  });

  await t.step("run() resolves with the result, and rejects with the task's error", async () => {
    equal(await pool.run(task("add"), [1, 2], {}), 3);
    equal(await pool.run({ module: fixtures }, [21], {}), 42);
    await rejects(pool.run(raw("fail"), ["boom"], {}), TaskError);
  });

  await t.step("map() yields in input order, or as results finish, with chunks", async () => {
    const ordered: unknown[] = [];
    const inputs = [[30, "a"], [1, "b"], [10, "c"]].map(([ms, v]) => [v, ms]);
    for await (const value of pool.map(task("delayed"), inputs, {})) ordered.push(value);
    deepEqual(ordered, ["a", "b", "c"]);
    const unordered: unknown[] = [];
    for await (const value of pool.map(task("delayed"), inputs, { ordered: false })) {
      unordered.push(value);
    }
    deepEqual(unordered.sort(), ["a", "b", "c"]);
    const chunked: unknown[] = [];
    for await (const value of pool.map(task("add"), [[1, 1], [2, 2], [3, 3]], { chunkSize: 2 })) {
      chunked.push(value);
    }
    deepEqual(chunked, [2, 4, 6]);
  });

  await t.step("results() yields every put request's outcome", async () => {
    for (const n of [1, 2, 3]) await pool.putRequest(new WorkRequest(task("add"), [n, 0]), {});
    const values: unknown[] = [];
    for await (const settled of pool.results({})) values.push(settled.ok && settled.value);
    deepEqual(values.sort(), [1, 2, 3]);
  });

  await t.step(
    "a signal cancels a queued and a running request; a timeout ends a running one",
    async () => {
      const reason = new Error("no longer wanted");
      const running = new AbortController();
      const queued = new AbortController();
      const slow = pool.run(task("delayed"), ["slow", 200], { signal: running.signal });
      const other = pool.run(task("delayed"), ["other", 200], {});
      const waiting = pool.run(task("add"), [1, 1], { signal: queued.signal });
      await Promise.resolve(); // the engine takes jobs in a microtask after the calls
      equal(pool.queued, 1, "two run, the third waits for room");
      queued.abort(reason);
      running.abort(reason);
      await rejects(waiting, (error) => error === reason);
      await rejects(slow, (error) => error === reason);
      await rejects(pool.run(task("delayed"), ["late", 500], { timeout: 20 }), TaskTimeoutError);
      equal(await other, "other");
      const { cancelled, timedOut } = pool.stats();
      deepEqual({ cancelled, timedOut }, { cancelled: 2, timedOut: 1 });
    },
  );

  await t.step(
    "a task the engine refuses is refused at the call; nothing else is touched",
    async () => {
      engine.refused.add(new URL("./fixtures/cancellable.ts", import.meta.url).href);
      const refused = {
        module: new URL("./fixtures/cancellable.ts", import.meta.url),
        name: "hang",
      };
      await rejects(pool.run(refused, [], {}), /this engine refuses it/);
      equal(await pool.run(task("add"), [2, 2], {}), 4);
    },
  );

  // A graceful close waits for the cancelled tasks still running here.
  await pool.close({});
  equal(engine.running(), 0);
  equal(engine.windingDown(), false);
});

Deno.test("The front's bound holds on a second engine: maxQueue waits, then lets producers in", async () => {
  const engine = new InProcessEngine(1);
  const pool = front(engine, 1);
  const first = pool.run(task("delayed"), [1, 30], {});
  const second = pool.run(task("delayed"), [2, 1], {});
  const third = pool.run(task("delayed"), [3, 1], {}); // waits for room
  equal(pool.queued, 1);
  deepEqual(await Promise.all([first, second, third]), [1, 2, 3]);
  await pool.close({});
});
