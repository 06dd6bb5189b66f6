import { deepEqual, equal, ok, rejects, throws } from "node:assert/strict";
import { ThreadPool, WorkRequest } from "../mod.ts";
import { taskModule } from "../src/core/task.ts";
import type * as Streams from "./fixtures/streams.ts";
import { poolTest, task } from "./helpers.ts";

const streams = taskModule<typeof Streams>(new URL("./fixtures/streams.ts", import.meta.url));

/** Shared counters: slot 0 hands out tickets, the start order; a gate's flags. */
function shared(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(16));
}

/** Resolves once `counter[0]` is at least `value`. */
async function reach(counter: Int32Array, value: number): Promise<void> {
  for (let now = Atomics.load(counter, 0); now < value; now = Atomics.load(counter, 0)) {
    const { async, value: woken } = Atomics.waitAsync(counter, 0, now);
    if (async) await woken;
  }
}

/**
 * Holds the pool's one worker busy (a task waiting for a gate): the counter
 * tasks take tickets from, and a way to open the gate and wait for its task.
 */
async function busy(pool: ThreadPool): Promise<{ tickets: Int32Array; open(): Promise<void> }> {
  const started = shared();
  const release = shared();
  const blocker = pool.run(task("gate"), [started, release, 0]);
  await reach(started, 1);
  const open = async () => {
    Atomics.store(release, 0, 1);
    Atomics.notify(release, 0);
    await blocker;
  };
  return { tickets: shared(), open };
}

/** Lets the pool's microtasks run: queued requests are handed ahead to the worker in one. */
function handedAhead(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

poolTest(
  "A request starts before every queued request of lower priority, those handed ahead to the busy worker included; first in, first out among equals",
  { workers: 1, prefetch: 8 },
  async (pool) => {
    const { tickets, open } = await busy(pool);
    const at = (priority: number | undefined, label: string) =>
      pool.run(task("ticket"), [tickets], priority === undefined ? {} : { priority })
        .then((ticket) => [ticket, label] as const);
    // Handed ahead to the worker, which runs the gate: they wait there.
    const calls = [at(undefined, "a0"), at(-1, "a-1"), at(undefined, "b0"), at(0, "c0")];
    await handedAhead();
    calls.push(at(5, "a5"), at(-1, "b-1"), at(5, "b5"), at(2, "a2"), at(0, "d0"));
    await handedAhead();
    calls.push(at(7, "a7"));
    await handedAhead();
    await open();
    const order = (await Promise.all(calls)).toSorted((x, y) => x[0] - y[0]).map(([, l]) => l);
    deepEqual(order, ["a7", "a5", "b5", "a2", "a0", "b0", "c0", "d0", "a-1", "b-1"]);
  },
);

poolTest(
  "priority works on map(), stream() and put requests, and the pool's priority is the default",
  { workers: 1, prefetch: 4, priority: 1 },
  async (pool) => {
    const { tickets, open } = await busy(pool);
    const order: string[] = [];
    const low = pool.map(task("ticket"), [[tickets], [tickets]], { priority: 0 });
    const lows = (async () => {
      for await (const ticket of low) order[ticket as number] = "map0";
    })();
    await handedAhead();
    // The pool's default, 1: before the map's.
    const put = new WorkRequest(task("ticket"), [tickets], {
      callback: (_, ticket) => order[ticket as number] = "put1",
    });
    await pool.putRequest(put);
    const high = pool.run(task("ticket"), [tickets], { priority: 3 }).then((ticket) =>
      order[ticket] = "run3"
    );
    await handedAhead();
    await open();
    await Promise.all([high, lows, pool.wait()]);
    deepEqual(order, ["run3", "put1", "map0", "map0"]);
    const values: number[] = [];
    for await (const value of pool.stream(streams("count"), [3], { priority: -3 })) {
      values.push(value);
    }
    deepEqual(values, [0, 1, 2]);
  },
);

Deno.test("priority is checked at the call, naming the option and quoting the value; nothing queued is lost", async () => {
  throws(
    () => new ThreadPool(0, { priority: 1.5 }),
    /'priority' must be an integer from -1000000 to 1000000: current value is 1\.5/,
  );
  throws(() => new ThreadPool(0, { priority: "high" as never }), TypeError);
  const pool = new ThreadPool(1);
  try {
    const queued = pool.run(task("add"), [1, 2]);
    await rejects(pool.run(task("add"), [1, 2], { priority: 2_000_000 }), (error) => {
      ok(error instanceof RangeError, String(error));
      equal(
        error.message,
        "Cannot run a task as 'priority' must be an integer from -1000000 to 1000000: current value is 2000000",
      );
      return true;
    });
    await rejects(pool.run(task("add"), [1, 2], { priority: "3" as never }), TypeError);
    throws(() => new WorkRequest(task("add"), [1, 2], { priority: NaN }), RangeError);
    throws(() => pool.stream(task("add"), [1, 2], { priority: Infinity }), RangeError);
    await rejects(pool.map(task("add"), [[1, 2]], { priority: 0.5 }).next(), RangeError);
    equal(await queued, 3);
  } finally {
    await pool.close();
  }
  equal(pool.liveThreads, 0);
});
