import { deepEqual, equal, ok } from "node:assert/strict";
import { type WorkerExitDetail, WorkerLostError, WorkRequest } from "../mod.ts";
import { cancellable, flags, Gate, poolTest, raised, task } from "./helpers.ts";

function exits(pool: EventTarget): WorkerExitDetail[] {
  const seen: WorkerExitDetail[] = [];
  pool.addEventListener("workerexit", (event) => {
    seen.push((event as CustomEvent<WorkerExitDetail>).detail);
  });
  return seen;
}

function next(target: EventTarget, type: string): Promise<Event> {
  return new Promise((resolve) => target.addEventListener(type, resolve, { once: true }));
}

poolTest(
  "'idle' fires once the last queued or running request ends, and not before",
  {},
  async (pool) => {
    const gate = new Gate();
    let idle = 0;
    let queuedAtIdle = -1;
    pool.addEventListener("idle", () => {
      idle++;
      queuedAtIdle = pool.queued;
    });
    const running = pool.run(task("gate"), gate.args(1));
    const quick = pool.run(task("add"), [1, 1]);
    equal(await quick, 2);
    equal(idle, 0, "a request is still running");
    await gate.whenStarted();
    gate.open();
    equal(await running, 1);
    equal(idle, 1);
    equal(queuedAtIdle, 0);
  },
);

poolTest(
  "'drain' fires when a bounded queue that was found full has room again",
  { workers: 1, maxQueue: 1 },
  async (pool) => {
    const gate = new Gate();
    let drains = 0;
    pool.addEventListener("drain", () => drains++);
    const running = pool.run(task("gate"), gate.args(1));
    await gate.whenStarted();
    await pool.putRequest(new WorkRequest(task("add"), [1, 1]));
    const refused = await pool.putRequest(new WorkRequest(task("add"), [2, 2]), { block: false })
      .catch((error) => error.name);
    equal(refused, "QueueFullError");
    equal(drains, 0);
    const drained = next(pool, "drain");
    gate.open();
    await drained;
    equal(drains, 1);
    equal(await running, 1);
    await pool.wait();
    equal(drains, 1, "only once per time the queue was found full");
  },
);

poolTest(
  "'workerexit' says why each thread stopped",
  { workers: 2, cancelGrace: 10 },
  async (pool) => {
    const seen = exits(pool);
    // Lost: the task ended its worker.
    await pool.run(task("exit"), [1]).catch(() => {});
    const lost = seen.find((exit) => exit.reason === "lost")!;
    ok(lost.error instanceof Error && /Deno\.exit/.test(lost.error.message));
    // Abandoned: a timed-out task ignored its signal past cancelGrace.
    const abandoned = next(pool, "workerexit");
    await pool.run(cancellable("hang"), [flags()], { timeout: 5 }).catch(() => {});
    equal((await abandoned as CustomEvent<WorkerExitDetail>).detail.reason, "abandoned");
    // Dismissed, then closed: two at once, so that both workers have a thread.
    await Promise.all([pool.run(task("delayed"), [1, 20]), pool.run(task("delayed"), [2, 20])]);
    await pool.dismissWorkers(1, { join: true });
    equal(seen.at(-1)!.reason, "dismissed");
    await pool.run(task("add"), [1, 1]);
    await pool.close();
    equal(seen.at(-1)!.reason, "closed");
    deepEqual(seen.map((exit) => exit.reason), ["lost", "abandoned", "dismissed", "closed"]);
  },
);

poolTest(
  "'workerexit' reports a thread stopped when idle",
  { workers: 1, idleTimeout: 0 },
  async (pool) => {
    const idled = next(pool, "workerexit");
    await pool.run(task("add"), [1, 1]);
    equal((await idled as CustomEvent<WorkerExitDetail>).detail.reason, "idle");
  },
);

poolTest(
  "'workerexit' reports a recycled thread",
  { workers: 1, maxTasksPerWorker: 1 },
  async (pool) => {
    const recycled = next(pool, "workerexit");
    await pool.run(task("add"), [1, 1]);
    equal((await recycled as CustomEvent<WorkerExitDetail>).detail.reason, "recycled");
  },
);

poolTest(
  "'error' reports a worker that died while it ran nothing",
  { workers: 1 },
  async (pool) => {
    const error = next(pool, "error");
    equal(await pool.run(task("dieLater")), "returned");
    const event = await error as ErrorEvent;
    ok(event.error instanceof WorkerLostError);
    ok(/while idle: .*a stray timer failed/.test(event.error.message), event.error.message);
    equal(await pool.run(task("add"), [2, 2]), 4, "the pool goes on");
    equal(pool.size, 1);
  },
);

poolTest(
  "No 'error' event when a death fails the request it was running",
  { workers: 1 },
  async (pool) => {
    let errors = 0;
    pool.addEventListener("error", () => errors++);
    const shared = flags();
    await pool.run(task("exit"), [1]).catch(() => {});
    await pool.run(cancellable("cooperativeSpin"), [shared], { timeout: 5 }).catch(() => {});
    await raised(shared, 1);
    equal(errors, 0);
  },
);
