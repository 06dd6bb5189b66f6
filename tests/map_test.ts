import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { PoolClosedError, TaskError, ThreadPool } from "../mod.ts";
import { Gate, poolTest, raw, task } from "./helpers.ts";

async function collect<T>(iterator: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterator) items.push(item);
  return items;
}

poolTest("ThreadPool.map() yields in input order by default", {}, async (pool) => {
  // Later inputs finish first.
  const inputs = Array.from({ length: 8 }, (_, i) => [i, (8 - i) * 3]);
  deepEqual(await collect(pool.map(task("delayed"), inputs)), [0, 1, 2, 3, 4, 5, 6, 7]);
});

poolTest(
  "ThreadPool.map() spreads array inputs and passes others as the one argument",
  {},
  async (pool) => {
    deepEqual(await collect(pool.map(task("add"), [[1, 2], [3, 4]])), [3, 7]);
    deepEqual(await collect(pool.map({ module: task("add").module }, [1, 2, 3])), [2, 4, 6]);
    deepEqual(await collect(pool.map(task("echo"), [[[1, 2]]])), [[1, 2]]);
  },
);

poolTest(
  "ThreadPool.map() with ordered: false yields as results finish",
  { workers: 2 },
  async (pool) => {
    const gate = new Gate();
    const iterator = pool.map(raw("gate"), [[gate.started, gate.release, "slow"], [
      gate.started,
      new Int32Array(new SharedArrayBuffer(4)).fill(1),
      "fast",
    ]], {
      ordered: false,
    });
    const first = await iterator.next();
    equal(first.value, "fast");
    gate.open();
    const second = await iterator.next();
    equal(second.value, "slow");
    equal((await iterator.next()).done, true);
  },
);

poolTest(
  "ThreadPool.map() reads sync and async iterables lazily, with chunks",
  {},
  async (pool) => {
    let read = 0;
    async function* inputs() {
      for (let i = 0; i < 1_000; i++) {
        read++;
        yield i;
      }
    }
    const results = await collect(pool.map(task("default"), inputs(), { chunkSize: 16 }));
    deepEqual(results, Array.from({ length: 1_000 }, (_, i) => i * 2));
    equal(read, 1_000);
    const unordered = await collect(
      pool.map({ module: task("add").module }, new Set([1, 2, 3]), {
        chunkSize: 2,
        ordered: false,
      }),
    );
    deepEqual(unordered.sort(), [2, 4, 6]);
  },
);

poolTest("ThreadPool.map() throws the first failure and stops", {}, async (pool) => {
  const inputs = [["a"], ["b"], ["c"]];
  await rejects(collect(pool.map(raw("fail"), inputs)), (error: Error) => {
    ok(error instanceof TaskError);
    equal(error.message, "a (map() input 0)");
    equal(error.index, 0);
    equal((error.cause as Error).message, "a", "the task's own error is as it threw it");
    return true;
  });
  await rejects(collect(pool.map(raw("fail"), inputs, { chunkSize: 2 })), TaskError);
});

poolTest(
  "ThreadPool.map() left early stops reading inputs and runs no more than its window",
  { workers: 1 },
  async (pool) => {
    const calls = new Int32Array(new SharedArrayBuffer(4));
    let read = 0;
    function* endless() {
      for (let i = 0;; i++) {
        read++;
        yield [calls, i];
      }
    }
    for await (const value of pool.map(task("counted"), endless())) {
      if (value === 3) break;
    }
    await pool.close();
    // The window of one worker is two requests beyond those yielded.
    ok(read <= 6, `read ${read} inputs for 4 results`);
    ok(Atomics.load(calls, 0) <= 6, `ran ${Atomics.load(calls, 0)} tasks for 4 results`);
  },
);

poolTest("ThreadPool.map() rejects bad input on the first next()", {}, async (pool) => {
  await rejects(pool.map(task("add"), [], { chunkSize: 0 }).next(), RangeError);
  await rejects(pool.map({ module: "./x.ts" }, [1]).next(), TypeError);
  await rejects(pool.map(task("echo"), [[() => 1]]).next(), /inputs\[0\]\[0\]/);
});

Deno.test("ThreadPool.map() on a closed pool rejects with PoolClosedError", async () => {
  const pool = new ThreadPool(1);
  await pool.close();
  await rejects(pool.map(task("add"), [[1, 1]]).next(), PoolClosedError);
  equal(pool.liveThreads, 0);
});

Deno.test("ThreadPool.map() types its inputs from the task's parameters", () => {
  // Type-checked, never run: each @ts-expect-error fails the check if the mistake compiles.
  const typed = (pool: ThreadPool) => {
    pool.map(task("default"), [1, [2]]);
    pool.map(task("add"), [[1, 2], [3, 4]]);
    // @ts-expect-error strings for a task that takes numbers
    pool.map(task("default"), ["not", "numbers"]);
    // @ts-expect-error a string among the arguments of a task that takes numbers
    pool.map(task("add"), [[1, "2"]]);
    pool.map(raw("add"), ["anything", [1, 2]]); // an untyped spec takes any input
  };
  equal(typeof typed, "function");
});

poolTest(
  "map()'s failure names its input: an index field, and the input in its message, with or without chunks",
  {},
  async (pool) => {
    for (const chunkSize of [1, 3]) {
      for (const ordered of [true, false]) {
        const inputs = [0, 2, 4, 6, 7, 8];
        const error = await collect(pool.map(task("evenOnly"), inputs, { chunkSize, ordered }))
          .catch((e) => e);
        ok(error instanceof TaskError, String(error));
        equal(error.index, 4, `chunkSize ${chunkSize}, ordered ${ordered}`);
        equal(error.message, "7 is odd (map() input 4)");
        ok(String(error.stack).startsWith("TaskError: 7 is odd (map() input 4)"), error.stack);
      }
    }
  },
);

poolTest(
  "map() with settled: true yields every input's outcome with its index, and goes on past failures",
  {},
  async (pool) => {
    for (const chunkSize of [1, 4]) {
      const outcomes = await collect(
        pool.map(task("evenOnly"), [0, 1, 2, 3, 4, 5, 6], { settled: true, chunkSize }),
      );
      deepEqual(outcomes.map(({ index, ok }) => [index, ok]), [
        [0, true],
        [1, false],
        [2, true],
        [3, false],
        [4, true],
        [5, false],
        [6, true],
      ]);
      for (const outcome of outcomes) {
        if (outcome.ok) {
          const value: number = outcome.value; // typed from the task
          equal(value, outcome.index);
        } else {
          ok(outcome.error instanceof TaskError);
          equal(
            (outcome.error as TaskError).message,
            `${outcome.index} is odd (map() input ${outcome.index})`,
          );
        }
      }
    }
    const unordered = await collect(
      pool.map(task("evenOnly"), [1, 2, 3], { settled: true, ordered: false }),
    );
    deepEqual(unordered.map(({ index }) => index).sort(), [0, 1, 2]);
    await rejects(
      collect(pool.map(task("evenOnly"), [1], { settled: "yes" as never })),
      /'settled' must be a boolean/,
    );
  },
);
