import { equal, match, ok, rejects } from "node:assert/strict";
import { progress } from "../task.ts";
import { type Settled, TaskError, WorkRequest } from "../mod.ts";
import { countAloud } from "./fixtures/tasks.ts";
import { inOrderEndingWith, slowListenerGetsTheLatest } from "./both_pools.ts";
import { poolTest, task } from "./helpers.ts";

poolTest("run()'s onProgress hears a task's reports, in order, the last before the result", {
  workers: 1,
}, async (pool) => {
  const reports: unknown[] = [];
  const result = await pool.run(task("stepAloud"), [5], {
    onProgress: (value) => reports.push(value),
  });
  equal(result, "done");
  // In order, the last among them (a report made before the one before it was handed on waits,
  // and the next replaces it).
  inOrderEndingWith(reports, 5);
});

poolTest("A caller slower than the task's reports gets the latest values, never a backlog", {
  workers: 1,
}, async (pool) => {
  await slowListenerGetsTheLatest(pool);
  // The same task, nobody listening: it runs as any other.
  equal(await pool.run(task("countAloud"), [1_000]), 1_000);
});

poolTest(
  "A WorkRequest's progressCallback runs during poll()/wait(), each request's before its result",
  {
    workers: 2,
  },
  async (pool) => {
    const events: string[] = [];
    for (const steps of [3, 4]) {
      await pool.putRequest(
        new WorkRequest(task("stepAloud"), [steps], {
          requestID: `r${steps}`,
          progressCallback: (request, value) =>
            events.push(`${request.requestID} ${(value as { step: number }).step}`),
          callback: (request) => events.push(`${request.requestID} done`),
        }),
      );
    }
    await pool.wait();
    for (const id of ["r3", "r4"]) {
      const mine = events.filter((event) => event.startsWith(`${id} `));
      equal(mine.at(-1), `${id} done`);
      const steps = mine.slice(0, -1).map((event) => Number(event.split(" ")[1]));
      ok(
        steps.length >= 1 && steps.every((step, i) => i === 0 || step > steps[i - 1]!),
        mine.join(),
      );
      equal(steps.at(-1), id === "r3" ? 3 : 4, "the last report comes before the result");
    }
    // results() takes outcomes, not reports.
    await pool.putRequest(new WorkRequest(task("stepAloud"), [2], { progressCallback: () => {} }));
    const outcomes: Settled[] = [];
    for await (const outcome of pool.results()) outcomes.push(outcome);
    ok(outcomes.length === 1 && outcomes[0]!.ok);
  },
);

poolTest(
  "A report that cannot be cloned fails its task; a listener that throws is reported, its request unharmed",
  {
    workers: 1,
  },
  async (pool) => {
    await rejects(pool.run(task("reportFunction"), [], { onProgress: () => {} }), (error) => {
      ok(error instanceof TaskError);
      match(String((error as TaskError).cause), /DataCloneError|could not be cloned/);
      return true;
    });
    const reported: unknown[] = [];
    const onError = (event: ErrorEvent) => {
      event.preventDefault();
      reported.push(event.error);
    };
    globalThis.addEventListener("error", onError);
    try {
      const result = await pool.run(task("stepAloud"), [2], {
        onProgress: () => {
          throw new Error("the listener's own bug");
        },
      });
      equal(result, "done");
    } finally {
      globalThis.removeEventListener("error", onError);
    }
    equal(reported.length, 2);
    match(String(reported[0]), /the listener's own bug/);
  },
);

poolTest("onProgress and progressCallback are checked at the call", {}, async (pool) => {
  await rejects(
    pool.run(task("add"), [1, 2], { onProgress: "print" as never }),
    /^TypeError: Cannot run a task as 'onProgress' must be a function or null: current value is "print"$/,
  );
  let thrown: unknown;
  try {
    new WorkRequest(task("add"), [1, 2], { progressCallback: 5 as never });
  } catch (error) {
    thrown = error;
  }
  match(
    String(thrown),
    /^TypeError: Cannot make a request as 'progressCallback' must be a function or null: current value is 5$/,
  );
});

Deno.test("progress() outside a pool's worker does nothing: a task module runs unchanged on the main thread", () => {
  progress(0.5);
  equal(countAloud(3), 3);
});
