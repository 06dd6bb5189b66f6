import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { TaskError, ThreadPool, WorkRequest } from "../mod.ts";
import { fixtures, occupy, poolTest, raw, task, turn } from "./helpers.ts";

poolTest("ThreadPool.run() resolves with the task's result", {}, async (pool) => {
  equal(await pool.run(task("add"), [1, 2]), 3);
});

poolTest("ThreadPool.run() calls the default export when no name is given", {}, async (pool) => {
  equal(await pool.run({ module: fixtures }, [21]), 42);
  equal(await pool.run({ module: fixtures.href }, [4]), 8);
});

poolTest("ThreadPool.run() awaits an async task", {}, async (pool) => {
  equal(await pool.run(task("delayed"), ["later", 5]), "later");
});

poolTest("ThreadPool.run() runs tasks on several threads at once", {}, async (pool) => {
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, i) => pool.run(task("add"), [i, i])),
  );
  deepEqual(results, Array.from({ length: 50 }, (_, i) => 2 * i));
});

poolTest(
  "ThreadPool.run() rejects with TaskError carrying the task's name, message, stack and cause",
  {},
  async (pool) => {
    const error = await pool.run(raw("fail"), ["Something extraordinary happened!"]).then(
      () => undefined,
      (error) => error,
    );
    ok(error instanceof TaskError);
    ok(error instanceof Error);
    equal(error.name, "TaskError");
    equal(error.message, "Something extraordinary happened!");
    const cause = error.cause as Error;
    ok(cause instanceof RangeError);
    equal(cause.name, "RangeError");
    equal(cause.message, "Something extraordinary happened!");
    ok(cause.stack?.includes("fixtures/tasks.ts"), cause.stack);
    deepEqual(cause.cause, { code: 42 });
    ok(error.stack?.includes('in task "fail"'), error.stack);
  },
);

poolTest("ThreadPool.run() rejects with TaskError when an async task rejects", {}, async (pool) => {
  const error = await pool.run(raw("reject"), ["no"]).catch((error) => error);
  ok(error instanceof TaskError);
  ok(error.cause instanceof TypeError);
  equal(error.message, "no");
});

poolTest(
  "A task's error keeps its own fields (code, a user's details) and Deno's error keeps its class and code",
  {},
  async (pool) => {
    type Coded = Error & { code?: string; details?: unknown };
    const error = await pool.run(raw("failWithFields")).catch((error) => error);
    ok(error instanceof TaskError);
    equal((error.cause as Coded).code, "E_TEST");
    deepEqual((error.cause as Coded).details, { value: 42 });
    const missing = await pool.run(raw("readMissing"), ["/no/such/file"]).catch((e: TaskError) =>
      e
    );
    ok(missing instanceof TaskError);
    ok(missing.cause instanceof Deno.errors.NotFound, String(missing.cause));
    equal((missing.cause as Coded).code, "ENOENT");
  },
);

poolTest(
  "ThreadPool.run() rejects with TaskError when a task throws a non-Error",
  {},
  async (pool) => {
    const error = await pool.run(raw("throwValue"), [{ code: 7 }]).catch((error) => error);
    ok(error instanceof TaskError);
    equal((error.cause as Error).name, "NonError");
    ok(error.message.includes("code: 7"), error.message);
  },
);

poolTest(
  "ThreadPool.run() rejects with TaskError naming an export that does not exist, and the pool goes on",
  {},
  async (pool) => {
    await rejects(pool.run(raw("nope")), (error: Error) => {
      ok(error instanceof TaskError);
      ok(error.message.includes('no exported function "nope"'), error.message);
      ok(error.message.includes("add"), "lists the functions the module does export");
      return true;
    });
    await rejects(pool.run(raw("notAFunction")), /it is number/);
    equal(await pool.run(task("add"), [2, 2]), 4);
    equal(pool.size, 2);
  },
);

poolTest(
  "ThreadPool.run() rejects with TaskError for a module that does not exist",
  {},
  async (pool) => {
    const missing = { module: new URL("./fixtures/missing.ts", import.meta.url), name: "x" };
    await rejects(pool.run(missing), (error: Error) => {
      ok(error instanceof TaskError);
      ok(error.message.includes("missing.ts"), error.message);
      return true;
    });
    equal(await pool.run(task("add"), [1, 1]), 2);
  },
);

poolTest(
  "ThreadPool.run() rejects with TypeError for a relative module string, and queued work is kept",
  {},
  async (pool) => {
    const queued = pool.run(task("delayed"), ["kept", 10]);
    await rejects(pool.run({ module: "./fixtures/tasks.ts", name: "add" }), (error: Error) => {
      ok(error instanceof TypeError);
      ok(error.message.includes("import.meta.url"), error.message);
      return true;
    });
    await rejects(pool.run({ module: 42 } as never), TypeError);
    await rejects(pool.run(null as never), TypeError);
    await rejects(pool.run({ module: fixtures, name: 3 } as never), TypeError);
    equal(await queued, "kept");
  },
);

poolTest(
  "ThreadPool.run() rejects with TypeError naming a function or symbol in the arguments",
  {},
  async (pool) => {
    const queued = pool.run(task("delayed"), ["kept", 10]);
    await rejects(pool.run(raw("echo"), [() => 1]), /args\[0\] .* a function/);
    await rejects(pool.run(raw("echo"), [{ deep: [1, { fn() {} }] }]), /args\[0\]\.deep\[1\]\.fn/);
    await rejects(pool.run(raw("echo"), [Symbol("s")]), /a symbol/);
    await rejects(pool.run(raw("echo"), "not an array" as never), /must be an array/);
    // Host objects the check does not walk are still caught when the request is sent.
    await rejects(pool.run(raw("echo"), [new WeakMap()]), TypeError);
    equal(await queued, "kept");
  },
);

poolTest(
  "ThreadPool.run() rejects with TaskError when the result cannot be cloned, and the worker lives",
  { workers: 1 },
  async (pool) => {
    await rejects(pool.run(raw("returnFunction")), (error: Error) => {
      ok(error instanceof TaskError);
      ok(error.message.includes("could not be sent back"), error.message);
      return true;
    });
    equal(await pool.run(task("add"), [1, 2]), 3);
  },
);

poolTest("ThreadPool.run() transfers what `transfer` lists", {}, async (pool) => {
  const bytes = new Uint8Array([1, 2, 3]);
  const copy = await pool.run(task("echo"), [bytes], { transfer: [bytes.buffer] });
  equal(bytes.byteLength, 0, "the buffer was moved, not copied");
  deepEqual([...(copy as Uint8Array)], [1, 2, 3]);
});

poolTest("ThreadPool.run() checks argument and result types of a typed task", {}, async (pool) => {
  const sum: number = await pool.run(task("add"), [1, 2]);
  equal(sum, 3);
  // @ts-expect-error: add takes numbers
  await pool.run(task("add"), ["1", 2]).catch(() => {});
  // @ts-expect-error: add returns a number
  const _wrong: string = await pool.run(task("add"), [1, 2]);
  // @ts-expect-error: only function exports are tasks
  task("notAFunction");
});

Deno.test("ThreadPool.run() settles every one of many requests exactly once", async () => {
  const pool = new ThreadPool(2);
  const outcomes = new Map<number, number>();
  await Promise.all(
    Array.from({ length: 2_000 }, (_, i) =>
      pool.run(task("add"), [i, 1]).then((value) => {
        equal(outcomes.has(i), false);
        outcomes.set(i, value);
      })),
  );
  await pool.close();
  equal(outcomes.size, 2_000);
  for (const [i, value] of outcomes) equal(value, i + 1);
  equal(pool.liveThreads, 0);
});

poolTest("A worker imports a task module once and keeps it", { workers: 1 }, async (pool) => {
  const count = { module: new URL("./fixtures/stateful.ts", import.meta.url), name: "count" };
  deepEqual(await pool.run(count), [1, 1]);
  deepEqual(await pool.run(count), [1, 2]);
  deepEqual(await pool.run(count), [1, 3]);
});

poolTest(
  "Queued requests start in the order they were made, with options or without, and count their wait",
  { workers: 1 },
  async (pool) => {
    const { gate, running } = await occupy(pool, 1);
    const counter = new Int32Array(new SharedArrayBuffer(4));
    const controller = new AbortController();
    const queued = [
      pool.run(task("ticket"), [counter]),
      pool.run(task("ticket"), [counter], { signal: controller.signal }),
      pool.run(task("ticket"), [counter]),
      pool.run(task("ticket"), [counter], { timeout: 10_000 }),
      pool.run(task("ticket"), [counter]),
      pool.run(task("ticket"), [counter], { transfer: [] }),
      pool.run(task("ticket"), [counter]),
    ];
    const queuedBy = performance.now();
    await turn();
    const openedAt = performance.now();
    gate.open();
    equal(await running, 1);
    deepEqual(await Promise.all(queued), [0, 1, 2, 3, 4, 5, 6]);
    const { waitTime } = pool.stats();
    equal(waitTime.count, 8);
    // Each waited from its call until the gate opened at least.
    ok(waitTime.p50 >= openedAt - queuedBy, `${waitTime.p50} ms`);
  },
);

for (const lane of [true, false]) {
  poolTest(
    `A call's argument list is its own from the call: the caller may reuse the array at once (lane ${
      lane ? "on" : "off"
    })`,
    { workers: 1, lane },
    async (pool) => {
      const args: [number, number] = [0, 0];
      const got: unknown[] = [];
      const callback = (_request: WorkRequest, result: unknown) => void got.push(result);
      const runs: Promise<unknown>[] = [];
      const requests: WorkRequest[] = [];
      for (let i = 0; i < 5; i++) {
        args[0] = i;
        args[1] = 10;
        runs.push(pool.run(task("add"), args));
        requests.push(new WorkRequest(task("add"), args, { callback }));
      }
      args.fill(-1);
      deepEqual(await Promise.all(runs), [10, 11, 12, 13, 14]);

      for (const request of requests) await pool.putRequest(request);
      await pool.wait();
      deepEqual(got, [10, 11, 12, 13, 14]);

      function* reused() {
        const input: [number, number] = [0, 0];
        for (let i = 0; i < 5; i++) {
          input[0] = i;
          input[1] = 100;
          yield input;
        }
      }
      const mapped: unknown[] = [];
      for await (const sum of pool.map(task("add"), reused())) mapped.push(sum);
      deepEqual(mapped, [100, 101, 102, 103, 104]);
    },
  );
}
