import { deepEqual, equal, match, ok, rejects, throws } from "node:assert/strict";
import {
  PoolClosedError,
  TaskError,
  TaskTimeoutError,
  ThreadPool,
  WorkerLostError,
} from "../mod.ts";
import { taskModule } from "../src/core/task.ts";
import type * as Streams from "./fixtures/streams.ts";
import { BEGUN, FINISHED, MADE } from "./fixtures/streams.ts";
import { poolTest, task } from "./helpers.ts";
import { corpus, describe } from "./value_corpus.ts";

const streams = taskModule<typeof Streams>(new URL("./fixtures/streams.ts", import.meta.url));

/** Reads a whole stream. */
async function all<T>(stream: ReadableStream<T>): Promise<T[]> {
  const values: T[] = [];
  for await (const value of stream) values.push(value);
  return values;
}

/** Waits until `counter[index]` reaches `value`. */
async function reach(counter: Int32Array, index: number, value: number): Promise<void> {
  for (let now = Atomics.load(counter, index); now < value; now = Atomics.load(counter, index)) {
    const { async, value: woken } = Atomics.waitAsync(counter, index, now);
    if (async) await woken;
  }
}

function counter(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(16));
}

poolTest(
  "stream() gives a task's values in order, whatever it returns",
  { workers: 2 },
  async (pool) => {
    deepEqual(await all(pool.stream(streams("count"), [1_000])), [...Array(1_000).keys()]);
    deepEqual(await all(pool.stream(streams("countSlowly"), [95])), [...Array(95).keys()]);
    deepEqual(await all(pool.stream(streams("readable"), [3])), ["line 0", "line 1", "line 2"]);
    deepEqual(await all(pool.stream(streams("later"), [[1, "b", null]])), [1, "b", null]);
    deepEqual(await all(pool.stream(streams("count"), [0])), []);
    const moved = await all(pool.stream(streams("buffers"), [3, 1024]));
    deepEqual(moved.map((bytes) => [bytes.length, bytes[0]]), [[1024, 0], [1024, 1], [1024, 2]]);
    // Typed from the task's yield type.
    const first: number | undefined = (await all(pool.stream(streams("count"), [1])))[0];
    equal(first, 0);
    // @ts-expect-error: count yields numbers
    const _wrong: ReadableStream<string> = pool.stream(streams("count"), [1]);
    equal(pool.stats().completed, 7);
  },
);

for (const highWaterMark of [1, 8, 256]) {
  poolTest(
    `A stream's task is never more than highWaterMark values ahead of a slow reader (${highWaterMark})`,
    { workers: 1 },
    async (pool) => {
      const made = counter();
      const stream = pool.stream(streams("tracked"), [made, 1_000_000], { highWaterMark });
      let read = 0;
      let most = 0;
      for await (const value of stream) {
        equal(value, read);
        read++;
        most = Math.max(most, Atomics.load(made, MADE) - read);
        ok(
          Atomics.load(made, MADE) <= read + highWaterMark,
          `${Atomics.load(made, MADE)} made, ${read} read`,
        );
        // A slow reader: a turn of the event loop per value.
        await new Promise((resolve) => setTimeout(resolve, 0));
        if (read === 500) break;
      }
      await reach(made, FINISHED, 1);
      ok(Atomics.load(made, MADE) <= read + highWaterMark);
      // The window is used: the task did run ahead of the reader, up to it.
      ok(most >= Math.min(highWaterMark, 2) - 1, `at most ${most} ahead`);
    },
  );
}

poolTest(
  "Cancelling a stream in each of four ways ends its generator (its finally runs) and frees the worker",
  {
    workers: 1,
    cancelGrace: 5_000,
  },
  async (pool) => {
    const ways: [string, (made: Int32Array) => Promise<void>][] = [
      ["reader.cancel()", async (made) => {
        const reader = pool.stream(streams("tracked"), [made], { highWaterMark: 4 }).getReader();
        equal((await reader.read()).value, 0);
        await reader.cancel(new Error("enough"));
      }],
      ["break out of for await", async (made) => {
        for await (const value of pool.stream(streams("trackedAsync"), [made])) {
          if (value === 3) break;
        }
      }],
      ["the request's signal", async (made) => {
        const controller = new AbortController();
        const stream = pool.stream(streams("tracked"), [made], { signal: controller.signal });
        const reader = stream.getReader();
        equal((await reader.read()).value, 0);
        controller.abort(new Error("not wanted"));
        await rejects(reader.read(), /not wanted/);
      }],
      ["its timeout, over the whole stream", async (made) => {
        const stream = pool.stream(streams("trackedAsync"), [made], { timeout: 50 });
        await rejects(all(stream), TaskTimeoutError);
      }],
    ];
    for (const [way, cancel] of ways) {
      const made = counter();
      await cancel(made);
      await reach(made, FINISHED, 1);
      equal(Atomics.load(made, BEGUN), 1, way);
      // The worker is free: the next task runs on it, and no thread was given up.
      equal(await pool.run(task("add"), [1, 2]), 3, way);
      equal(pool.abandoned, 0, way);
    }
    equal(pool.stats().cancelled + pool.stats().timedOut, 4);
  },
);

poolTest("A throw mid-stream errors the stream with a TaskError, after the values made before it", {
  workers: 1,
}, async (pool) => {
  const reader = pool.stream(streams("failAfter"), [3]).getReader();
  for (const expected of [0, 1, 2]) equal((await reader.read()).value, expected);
  await rejects(reader.read(), (error) => {
    ok(error instanceof TaskError);
    ok(error.cause instanceof RangeError);
    match(error.message, /no value after 3/);
    return true;
  });
  await rejects(all(pool.stream(streams("notIterable"))), (error) => {
    ok(error instanceof TaskError && error.cause instanceof TypeError);
    match((error as Error).message, /must return a generator.*it returned number/);
    return true;
  });
});

poolTest(
  "A worker lost mid-stream errors the stream with WorkerLostError, and the stream never runs again",
  {
    workers: 1,
  },
  async (pool) => {
    const begun = counter();
    const values: number[] = [];
    await rejects(
      (async () => {
        for await (const value of pool.stream(streams("crashAfter"), [3, begun])) {
          values.push(value);
        }
      })(),
      WorkerLostError,
    );
    deepEqual(values, [0, 1, 2]);
    equal(Atomics.load(begun, BEGUN), 1);
    equal(await pool.run(task("add"), [2, 2]), 4, "the pool replaced its worker");
  },
);

poolTest("100,000 values of every kind arrive exactly, in order, through one stream", {
  workers: 1,
}, async (pool) => {
  const expected = corpus(5, 100_000);
  let i = 0;
  for await (const value of pool.stream(streams("values"), [5, 100_000])) {
    // Exactly what structured cloning gives (it keeps no null prototype, for one).
    equal(describe(value), describe(structuredClone(expected[i])), `value ${i}`);
    i++;
  }
  equal(i, 100_000);
});

Deno.test("close() waits for an open stream; close({ force: true }) errors it", async () => {
  const pool = new ThreadPool(1);
  const reader = pool.stream(streams("count"), [10], { highWaterMark: 2 }).getReader();
  equal((await reader.read()).value, 0);
  const closing = pool.close();
  const rest: number[] = [];
  for (let next = await reader.read(); !next.done; next = await reader.read()) {
    rest.push(next.value);
  }
  deepEqual(rest, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  await closing;
  equal(pool.liveThreads, 0);

  const forced = new ThreadPool(1);
  const made = counter();
  const open = forced.stream(streams("tracked"), [made]).getReader();
  equal((await open.read()).value, 0);
  await forced.close({ force: true });
  await rejects(
    (async () => {
      for (let next = await open.read(); !next.done; next = await open.read());
    })(),
    PoolClosedError,
  );
  equal(forced.liveThreads, 0);
});

poolTest(
  "stream() checks its input at the call, and hears the task's progress",
  {},
  async (pool) => {
    throws(
      () => pool.stream(streams("count"), [1], { highWaterMark: 0 }),
      /^RangeError: Cannot stream a task as 'highWaterMark' must be an integer of at least 1: current value is 0$/,
    );
    throws(() => pool.stream(streams("count"), [1], { highWaterMark: "8" as never }), TypeError);
    throws(() => pool.stream(streams("count"), [1], { timeout: -1 }), RangeError);
    throws(() => pool.stream({ module: "streams.ts", name: "count" }), /absolute URL/);
    const reports: unknown[] = [];
    deepEqual(
      await all(pool.stream(streams("countAloud"), [3], { onProgress: (v) => reports.push(v) })),
      [0, 1, 2],
    );
    equal(reports.at(-1), 3);
    const closed = new ThreadPool(1);
    await closed.close();
    throws(() => closed.stream(streams("count"), [1]), PoolClosedError);
  },
);
