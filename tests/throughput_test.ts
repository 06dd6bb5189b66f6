import { deepEqual, equal, ok } from "node:assert/strict";
import { Gate, poolTest, task } from "./helpers.ts";

poolTest(
  "concurrency lets one worker run several async tasks at once",
  { workers: 1, concurrency: 4 },
  async (pool) => {
    const gate = new Gate();
    const runs = Array.from(
      { length: 4 },
      (_, i) => pool.run(task("gate"), gate.args(i)),
    );
    // All four are running together on the one worker before any may finish.
    await gate.whenStarted(4);
    gate.open();
    deepEqual(await Promise.all(runs), [0, 1, 2, 3]);
  },
);

poolTest("A task can return its result by transfer", { workers: 1 }, async (pool) => {
  const bytes = await pool.run(task("makeBytes"), [1024]);
  equal(bytes.byteLength, 1024);
  equal(bytes[1023], 7);
  equal(await pool.run(task("keptLength")), 0, "the worker's copy was moved, not copied");
});

poolTest("Many tiny tasks travel many to a message, both ways", { workers: 2 }, async (pool) => {
  let posts = 0;
  const original = Worker.prototype.postMessage;
  Worker.prototype.postMessage = function (this: Worker, ...args: unknown[]) {
    posts++;
    return (original as (...args: unknown[]) => void).apply(this, args);
  } as typeof original;
  try {
    const results = await Promise.all(
      Array.from({ length: 10_000 }, (_, i) => pool.run(task("add"), [i, 1])),
    );
    equal(results[9_999], 10_000);
  } finally {
    Worker.prototype.postMessage = original;
  }
  ok(posts < 2_000, `${posts} messages for 10,000 tasks`);
});

poolTest(
  "Results sent back in batches never wait in front of a task measured as slow",
  { workers: 1, prefetch: 4 },
  async (pool) => {
    const flag = new Int32Array(new SharedArrayBuffer(4));
    // Load both functions, and let the worker measure blockFor as slow (2 ms).
    equal(await pool.run(task("add"), [0, 0]), 0);
    equal(await pool.run(task("blockFor"), [flag, 2]), "timed-out");
    // Sent together; the second blocks its worker's thread until the flag is set.
    const fast = pool.run(task("add"), [1, 1]);
    const blocking = pool.run(task("blockFor"), [flag, 60_000]);
    equal(await fast, 2, "the first result arrived while the worker is blocked");
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
    // "ok" if it was already waiting, "not-equal" if the flag was set first:
    // the fast result may arrive before the blocking task begins.
    ok(["ok", "not-equal"].includes(await blocking as string));
  },
);

poolTest(
  "An idle worker takes back a task handed ahead to a busy one",
  { workers: 2, prefetch: 1 },
  async (pool) => {
    const first = new Gate();
    const second = new Gate();
    const a = pool.run(task("gate"), first.args(1));
    const b = pool.run(task("gate"), second.args(2));
    await first.whenStarted();
    await second.whenStarted();
    // Both workers are busy; this one is handed ahead to the first of them.
    const c = pool.run(task("add"), [20, 22]);
    equal(pool.queued, 1);
    second.open();
    equal(await b, 2);
    // The second worker is idle now: it runs c while the first is still blocked.
    equal(await c, 42);
    equal(Atomics.load(first.release, 0), 0);
    first.open();
    equal(await a, 1);
  },
);

poolTest(
  "A stolen task sent back to the same worker settles once, with its result",
  { workers: 2, prefetch: 2 },
  async (pool) => {
    const first = new Gate();
    const second = new Gate();
    const a = pool.run(task("gate"), first.args(1));
    const b = pool.run(task("gate"), second.args(2));
    await first.whenStarted();
    await second.whenStarted();
    // Handed ahead to the first worker, behind a.
    const c = pool.run(task("add"), [20, 22]);
    // When b ends, its worker steals c back; dismissing that worker before c is
    // dispatched sends c to the first worker again, while the first copy of c
    // still waits there to be skipped.
    const dismissed = b.then(() => pool.dismissWorkers(1));
    second.open();
    await dismissed;
    first.open();
    equal(await a, 1);
    equal(await c, 42, "the skipped first copy did not settle the second");
    equal(pool.size, 1);
  },
);
