import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { ThreadPool, WorkRequest } from "../mod.ts";
import { isCancelled, taskSignal, throwIfCancelled, transfer } from "../task.ts";
import {
  cancellable,
  flags,
  Gate,
  occupyWithRequest,
  poolTest,
  raised,
  task,
  turn,
} from "./helpers.ts";

const reason = new Error("the caller gave up");

poolTest(
  "ThreadPool.run() rejects at once with the reason of a signal already aborted",
  {},
  async (pool) => {
    const calls = new Int32Array(new SharedArrayBuffer(4));
    const signal = AbortSignal.abort(reason);
    await rejects(pool.run(task("counted"), [calls, 1], { signal }), (error) => error === reason);
    const request = new WorkRequest(task("counted"), [calls, 1], { signal });
    await rejects(pool.putRequest(request), (error) => error === reason);
    equal(pool.pending, 0);
    await rejects(pool.map(task("counted"), [[calls, 1]], { signal }).next(), (e) => e === reason);
    equal(pool.queued, 0);
    equal(await pool.run(task("counted"), [calls, 2]), 2);
    equal(Atomics.load(calls, 0), 1, "only the last request ran");
  },
);

poolTest(
  "A request aborted while queued is taken out of the queue and never runs",
  { workers: 1 },
  async (pool) => {
    const gate = new Gate();
    const calls = new Int32Array(new SharedArrayBuffer(4));
    const running = pool.run(task("gate"), gate.args(0));
    await gate.whenStarted();
    const controller = new AbortController();
    const queued = pool.run(task("counted"), [calls, 1], { signal: controller.signal });
    const after = pool.run(task("counted"), [calls, 2]);
    equal(pool.queued, 2);
    controller.abort(reason);
    await rejects(queued, (error) => error === reason);
    equal(pool.queued, 1);
    gate.open();
    equal(await running, 0);
    equal(await after, 2);
    equal(Atomics.load(calls, 0), 1, "the aborted request never ran");
  },
);

poolTest(
  "A request aborted while handed ahead to a worker is skipped there",
  { workers: 1, prefetch: 1 },
  async (pool) => {
    const gate = new Gate();
    const calls = new Int32Array(new SharedArrayBuffer(4));
    const running = pool.run(task("gate"), gate.args(0));
    await gate.whenStarted();
    const controller = new AbortController();
    const handed = pool.run(task("counted"), [calls, 1], { signal: controller.signal });
    controller.abort(reason);
    await rejects(handed, (error) => error === reason);
    gate.open();
    equal(await running, 0);
    equal(await pool.run(task("counted"), [calls, 2]), 2);
    equal(Atomics.load(calls, 0), 1, "the aborted request never ran");
    equal(pool.abandoned, 0);
  },
);

const cooperative: [fixture: string, how: string][] = [
  ["cooperativeSpin", "a sync loop that reads isCancelled()"],
  ["cooperativeWait", "an async task that listens to taskSignal()"],
  ["cooperativeSpinAfterAwait", "a sync loop after an await that reads isCancelled(signal)"],
];

for (const [fixture, how] of cooperative) {
  poolTest(
    `A running task that stops when told (${how}) rejects at once and keeps its worker`,
    { workers: 1 },
    async (pool) => {
      const shared = flags();
      const controller = new AbortController();
      const running = pool.run(cancellable(fixture), [shared], { signal: controller.signal });
      await raised(shared);
      controller.abort(reason);
      await rejects(running, (error) => error === reason);
      // The task saw the cancellation and stopped.
      await raised(shared, 1);
      // The next task runs on the same, live worker: its thread was not abandoned.
      equal(await pool.run(task("add"), [1, 1]), 2);
      equal(pool.abandoned, 0);
    },
  );
}

poolTest(
  "A running task that ignores the abort is abandoned after cancelGrace and its worker replaced",
  { workers: 1, cancelGrace: 20 },
  async (pool) => {
    const shared = flags();
    const controller = new AbortController();
    const running = pool.run(cancellable("spinFor"), [shared, 1_500], {
      signal: controller.signal,
    });
    await raised(shared);
    controller.abort(reason);
    // The abort wins at once, whatever the task does afterwards.
    await rejects(running, (error) => error === reason);
    equal(pool.abandoned, 0, "the task still has its grace period");
    // Only a replacement thread can run this: the abandoned one is still spinning.
    equal(await pool.run(task("add"), [2, 2]), 4);
    equal(pool.abandoned, 1);
    equal(pool.size, 1);
  },
);

poolTest(
  "A put request aborted while queued goes to excCallback with the reason",
  { workers: 1 },
  async (pool) => {
    const gate = await occupyWithRequest(pool);
    const controller = new AbortController();
    const errors: unknown[] = [];
    const request = new WorkRequest(task("add"), [1, 1], {
      signal: controller.signal,
      excCallback: (_, error) => errors.push(error),
    });
    await pool.putRequest(request);
    controller.abort(reason);
    gate.open();
    await pool.wait();
    deepEqual(errors, [reason]);
    equal(request.exception, true);
  },
);

poolTest(
  "putRequest() waiting for room rejects with the reason when its signal aborts",
  { workers: 1, maxQueue: 1 },
  async (pool) => {
    const gate = await occupyWithRequest(pool);
    await pool.putRequest(new WorkRequest(task("add"), [1, 1]));
    const controller = new AbortController();
    const request = new WorkRequest(task("add"), [2, 2], { signal: controller.signal });
    const waiting = pool.putRequest(request);
    await turn();
    controller.abort(reason);
    await rejects(waiting, (error) => error === reason);
    equal(pool.pending, 2);
    gate.open();
    await pool.wait();
  },
);

poolTest("ThreadPool.map() with a signal stops with its reason", { workers: 2 }, async (pool) => {
  const controller = new AbortController();
  const seen: unknown[] = [];
  const inputs = Array.from({ length: 100 }, (_, i) => [i, 5]);
  await rejects(
    (async () => {
      for await (const value of pool.map(task("delayed"), inputs, { signal: controller.signal })) {
        seen.push(value);
        if (seen.length === 3) controller.abort(reason);
      }
    })(),
    (error) => error === reason,
  );
  deepEqual(seen, [0, 1, 2]);
  equal(pool.queued, 0);
});

Deno.test("A signal used for 10,000 requests has no listener left once they settle", async () => {
  const pool = new ThreadPool(2, { maxQueue: 50 });
  const controller = new AbortController();
  let attached = 0;
  const { signal } = controller;
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = (...args: Parameters<typeof add>) => {
    attached++;
    add(...args);
  };
  signal.removeEventListener = (...args: Parameters<typeof remove>) => {
    attached--;
    remove(...args);
  };
  const runs: Promise<number>[] = [];
  for (let i = 0; i < 10_000; i++) runs.push(pool.run(task("add"), [i, 0], { signal }));
  const results = await Promise.all(runs);
  equal(results[9_999], 9_999);
  equal(attached, 0, "every listener was removed");
  // The same holds for requests that end early: aborted while queued or running.
  const gate = new Gate();
  const more = [pool.run(task("gate"), gate.args(0), { signal })];
  for (let i = 0; i < 100; i++) more.push(pool.run(task("add"), [i, 0], { signal }));
  await gate.whenStarted();
  const outcomes = Promise.allSettled(more);
  controller.abort(reason);
  // Each ends once: finished on the free worker before the abort, or with its reason.
  for (const [i, outcome] of (await outcomes).entries()) {
    if (outcome.status === "fulfilled") equal(outcome.value, i - 1);
    else equal(outcome.reason, reason);
  }
  equal((await outcomes)[0]!.status, "rejected", "the running gate task was aborted");
  equal(attached, 0);
  gate.open();
  await pool.close();
  equal(pool.liveThreads, 0);
});

Deno.test("Outside any pool's worker, the task API means what it obviously would: never cancelled, nothing to transfer", () => {
  equal(isCancelled(), false);
  throwIfCancelled();
  const signal = taskSignal();
  equal(signal.aborted, false);
  equal(isCancelled(signal), false);
  throwIfCancelled(signal);
  const bytes = new Uint8Array([1, 2, 3]);
  equal(transfer(bytes, [bytes.buffer]), bytes);
  equal(bytes.byteLength, 3, "nothing was moved");
  equal(isCancelled(AbortSignal.abort()), true, "a foreign signal answers for itself");
});

Deno.test("A task module that checks for cancellation runs unchanged on the main thread", async () => {
  // The example's tasks: one reads isCancelled() in its loop, one passes taskSignal() to a timer.
  const { countPrimes, sleep } = await import("../examples/cancel_tasks.ts");
  equal(countPrimes(30_000), 3245);
  equal(await sleep(1), "slept 1 ms");
});

poolTest(
  "On a pool worker, isCancelled() without its signal after an await still says how to ask",
  { workers: 1 },
  async (pool) => {
    await rejects(
      pool.run(cancellable("askAfterAwait")),
      /isCancelled\(\) must be called by a task running on a ThreadPool worker, in its synchronous part/,
    );
  },
);

Deno.test("run() rejects a signal that is not an AbortSignal", async () => {
  await using pool = new ThreadPool(0);
  await rejects(pool.run(task("add"), [1, 1], { signal: {} as AbortSignal }), TypeError);
  ok(true);
});
