import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import {
  makeRequests,
  NoResultsPending,
  NoWorkersAvailable,
  PoolClosedError,
  type Settled,
  TaskError,
  ThreadPool,
  WorkRequest,
} from "../mod.ts";
import { followsUntilClose } from "./both_pools.ts";
import { Gate, poolTest, raw, task } from "./helpers.ts";

poolTest(
  "ThreadPool.poll() rejects with NoResultsPending on a pool never used",
  {},
  async (pool) => {
    await rejects(pool.poll(), NoResultsPending);
    await rejects(pool.poll({ block: true }), NoResultsPending);
    equal(pool.pending, 0);
  },
);

poolTest(
  "ThreadPool.poll() rejects with NoResultsPending once the call before handled the last result",
  {},
  async (pool) => {
    await pool.putRequest(new WorkRequest(task("add"), [1, 2]));
    equal(pool.pending, 1);
    await pool.poll({ block: true });
    equal(pool.pending, 0);
    await rejects(pool.poll(), NoResultsPending);
  },
);

poolTest("ThreadPool.wait() returns at once when nothing is pending", {}, async (pool) => {
  await pool.wait();
});

poolTest(
  "ThreadPool.wait() hands each result to callback and each error to excCallback, on this thread",
  {},
  async (pool) => {
    const seen: string[] = [];
    const callback = (request: WorkRequest, result: unknown) => {
      seen.push(`ok ${request.requestID} ${result}`);
    };
    const excCallback = (request: WorkRequest, error: Error) => {
      ok(error instanceof TaskError);
      seen.push(`error ${request.requestID} ${error.message}`);
    };
    const good = new WorkRequest(task("add"), [1, 2], { requestID: "good", callback, excCallback });
    const bad = new WorkRequest(raw("fail"), ["bad luck"], {
      requestID: "bad",
      callback,
      excCallback,
    });
    await pool.putRequest(good);
    await pool.putRequest(bad);
    await pool.wait();
    deepEqual(seen.sort(), ["error bad bad luck", "ok good 3"]);
    equal(good.exception, false);
    equal(bad.exception, true);
    equal(pool.pending, 0);
  },
);

poolTest(
  "WorkRequest's default excCallback prints the request id and error to stderr",
  {},
  async (pool) => {
    const printed: unknown[][] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => printed.push(args);
    try {
      await pool.putRequest(new WorkRequest(raw("fail"), ["printed"], { requestID: 77 }));
      await pool.wait();
    } finally {
      console.error = original;
    }
    equal(printed.length, 1);
    equal(printed[0]![0], "Exception in request #77:");
    ok(printed[0]![1] instanceof TaskError);
  },
);

poolTest("excCallback: null drops a failure without calling callback", {}, async (pool) => {
  let called = 0;
  const request = new WorkRequest(raw("fail"), ["quiet"], {
    callback: () => called++,
    excCallback: null,
  });
  await pool.putRequest(request);
  await pool.wait();
  equal(called, 0);
  equal(request.exception, true);
});

poolTest(
  "ThreadPool.poll() returns without waiting when no result has arrived",
  { workers: 1 },
  async (pool) => {
    const gate = new Gate();
    const results: unknown[] = [];
    await pool.putRequest(
      new WorkRequest(task("gate"), gate.args(5), {
        callback: (_, value) => results.push(value),
      }),
    );
    await gate.whenStarted();
    await pool.poll();
    deepEqual(results, []);
    equal(pool.pending, 1);
    gate.open();
    await pool.poll({ block: true });
    deepEqual(results, [5]);
    equal(pool.pending, 0);
  },
);

poolTest(
  "ThreadPool.poll() with block waits for a result; wait() rejects with NoWorkersAvailable with no worker",
  { workers: 0 },
  async (pool) => {
    const results: unknown[] = [];
    await pool.putRequest(
      new WorkRequest(task("add"), [2, 3], { callback: (_, value) => results.push(value) }),
    );
    equal(pool.pending, 1);
    await rejects(pool.poll({ block: true }), NoWorkersAvailable);
    await rejects(pool.wait(), NoWorkersAvailable);
    await pool.poll(); // non-blocking: nothing there yet, no error
    pool.createWorkers(1);
    await pool.wait();
    deepEqual(results, [5]);
  },
);

poolTest(
  "ThreadPool.wait() rejects with NoWorkersAvailable when the last worker is dismissed while it waits",
  { workers: 1, prefetch: 1 },
  async (pool) => {
    const gate = new Gate();
    await pool.putRequest(new WorkRequest(task("gate"), gate.args(1)));
    await pool.putRequest(new WorkRequest(task("add"), [1, 1]));
    await gate.whenStarted();
    const waiting = pool.wait();
    await pool.dismissWorkers(1);
    gate.open();
    // The running request is delivered; the one handed back to the queue has no worker.
    await rejects(waiting, NoWorkersAvailable);
    equal(pool.pending, 1);
    pool.createWorkers(1);
    await pool.wait();
    equal(pool.pending, 0);
  },
);

poolTest(
  "ThreadPool.wait() rejects when a callback throws, and the request is not left pending",
  { workers: 1 },
  async (pool) => {
    const delivered: unknown[] = [];
    const boom = new Error("callback failed");
    await pool.putRequest(
      new WorkRequest(task("add"), [1, 1], {
        callback: () => {
          throw boom;
        },
      }),
    );
    for (
      const request of makeRequests(task("add"), [[2, 2], [3, 3]], (_, v) => delivered.push(v))
    ) {
      await pool.putRequest(request);
    }
    await rejects(pool.wait(), (error) => error === boom);
    // One worker answers in order: the throwing callback's result came first.
    equal(pool.pending, 2);
    await pool.wait(); // returns: the failed callback's request is no longer pending
    equal(pool.pending, 0);
    deepEqual(delivered.sort(), [4, 6]);
  },
);

poolTest("ThreadPool.poll() awaits a callback that returns a promise", {}, async (pool) => {
  const order: string[] = [];
  await pool.putRequest(
    new WorkRequest(task("add"), [1, 1], {
      callback: async () => {
        await Promise.resolve();
        order.push("callback done");
      },
    }),
  );
  await pool.wait();
  order.push("wait done");
  deepEqual(order, ["callback done", "wait done"]);
});

poolTest(
  "ThreadPool.putRequest() rejects a request put twice or after it failed, and keeps the queue",
  {},
  async (pool) => {
    const results: unknown[] = [];
    const request = new WorkRequest(task("add"), [1, 2], { callback: (_, v) => results.push(v) });
    await pool.putRequest(request);
    await rejects(pool.putRequest(request), /already put/);
    const failed = new WorkRequest(raw("fail"), ["x"], { excCallback: null });
    await pool.putRequest(failed);
    await pool.wait();
    await rejects(pool.putRequest(failed), /already failed/);
    await rejects(pool.putRequest({ task: task("add"), args: [] } as never), /not a WorkRequest/);
    await rejects(
      pool.putRequest(new WorkRequest({ module: "tasks.ts" }, [])),
      /not an absolute URL/,
    );
    await rejects(pool.putRequest(new WorkRequest(raw("add"), [() => 1])), /a function/);
    deepEqual(results, [3]);
    equal(pool.pending, 0);
  },
);

poolTest(
  "ThreadPool.results() yields each put request's outcome once, then ends",
  {},
  async (pool) => {
    let callbacks = 0;
    const requests = makeRequests(task("add"), [[1, 1], [2, 2], [3, 3]], () => callbacks++);
    const bad = new WorkRequest(raw("fail"), ["no"], { excCallback: () => callbacks++ });
    for (const request of [...requests, bad]) await pool.putRequest(request);
    const seen: Settled[] = [];
    for await (const settled of pool.results()) seen.push(settled);
    equal(seen.length, 4);
    equal(callbacks, 0, "results() hands outcomes to the iterator, not to callbacks");
    deepEqual(
      seen.filter((s) => s.ok).map((s) => (s as { value: number }).value).sort(),
      [2, 4, 6],
    );
    const failure = seen.find((s) => !s.ok)!;
    equal(failure.request, bad);
    ok(!failure.ok && failure.error instanceof TaskError);
    equal(pool.pending, 0);
  },
);

poolTest(
  "Each result reaches exactly one consumer when results() and wait() share the channel",
  {},
  async (pool) => {
    const delivered = new Map<WorkRequest, number>();
    const count = (request: WorkRequest) =>
      delivered.set(request, (delivered.get(request) ?? 0) + 1);
    const requests = makeRequests(task("add"), Array.from({ length: 40 }, (_, i) => [i, i]), count);
    for (const request of requests) await pool.putRequest(request);
    let taken = 0;
    for await (const settled of pool.results()) {
      count(settled.request);
      if (++taken === 10) break;
    }
    await pool.wait();
    equal(delivered.size, 40);
    for (const times of delivered.values()) equal(times, 1);
  },
);

Deno.test("results({ follow: true }) follows the result channel until the pool is closed", async () => {
  const pool = new ThreadPool(2);
  await followsUntilClose(pool, 3);
  equal(pool.liveThreads, 0);
});

Deno.test("results({ follow: true }) waits while the pool has no worker, and yields what close() fails", async () => {
  const pool = new ThreadPool(0);
  const outcomes: Settled[] = [];
  let arrived!: () => void;
  const first = new Promise<void>((resolve) => arrived = resolve);
  const consumer = (async () => {
    for await (const outcome of pool.results({ follow: true })) {
      outcomes.push(outcome);
      arrived();
    }
  })();
  await pool.putRequest(new WorkRequest(task("add"), [2, 3]));
  await rejects(pool.wait(), NoWorkersAvailable, "wait() still says no worker can run it");
  pool.createWorkers(1);
  await first;
  await pool.dismissWorkers(1);
  await pool.joinAllDismissedWorkers();
  await pool.putRequest(new WorkRequest(task("add"), [4, 4]));
  await pool.close();
  await consumer;
  const [ran, failed, ...more] = outcomes;
  equal(more.length, 0);
  ok(ran?.ok && ran.value === 5);
  ok(failed?.ok === false && failed.error instanceof PoolClosedError, String(failed));
  equal(pool.liveThreads, 0);
});

poolTest("results() checks its options at the first next()", {}, async (pool) => {
  await rejects(
    pool.results({ follow: "yes" as never }).next(),
    /^TypeError: Cannot follow results as 'follow' must be a boolean: current value is "yes"$/,
  );
  await rejects(pool.results(5 as never).next(), /'options'.*5/);
});

poolTest("pending counts put requests, not run() calls", { workers: 1 }, async (pool) => {
  const gate = new Gate();
  const running = pool.run(task("gate"), gate.args(1));
  equal(pool.pending, 0);
  await pool.putRequest(new WorkRequest(task("add"), [1, 1]));
  equal(pool.pending, 1);
  gate.open();
  equal(await running, 1);
  await pool.wait();
  equal(pool.pending, 0);
});

Deno.test("ThreadPool.poll() keeps working after close() to drain what is left", async () => {
  const pool = new ThreadPool(1);
  const results: unknown[] = [];
  await pool.putRequest(
    new WorkRequest(task("add"), [4, 4], { callback: (_, v) => results.push(v) }),
  );
  await pool.close();
  equal(pool.pending, 1);
  await pool.wait();
  deepEqual(results, [8]);
  equal(pool.liveThreads, 0);
});

poolTest(
  "Consumers draining the result channel at once each get distinct results, and all of them",
  {},
  async (pool) => {
    const polled: unknown[] = [];
    const callback = (_: WorkRequest, value: unknown) => void polled.push(value);
    for (let i = 0; i < 200; i++) {
      await pool.putRequest(new WorkRequest(task("add"), [i, 0], { callback }));
    }
    const drain = async () => {
      const got: unknown[] = [];
      for await (const settled of pool.results()) got.push(settled.ok && settled.value);
      return got;
    };
    const poller = async () => {
      // A blocking poll returns having handled at least one result, or with nothing pending.
      while (pool.pending > 0) {
        const before = polled.length;
        await pool.poll({ block: true }).catch((error) => {
          if (!(error instanceof NoResultsPending)) throw error;
        });
        if (pool.pending > 0) ok(polled.length > before, "a blocking poll() handled nothing");
      }
    };
    const [a, b] = await Promise.all([drain(), drain(), poller()]);
    const all = [...a!, ...b!, ...polled].sort((x, y) => (x as number) - (y as number));
    deepEqual(all, Array.from({ length: 200 }, (_, i) => i));
  },
);

poolTest(
  "wait() called twice at once: both return once every result is handled, each once",
  {},
  async (pool) => {
    const handled: unknown[] = [];
    const callback = (_: WorkRequest, value: unknown) => void handled.push(value);
    for (let i = 0; i < 100; i++) {
      await pool.putRequest(new WorkRequest(task("add"), [i, 0], { callback }));
    }
    await Promise.all([pool.wait(), pool.wait(), pool.wait()]);
    deepEqual(
      handled.sort((x, y) => (x as number) - (y as number)),
      Array.from({ length: 100 }, (_, i) => i),
    );
    equal(pool.pending, 0);
  },
);
