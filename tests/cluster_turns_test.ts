import { equal, ok } from "node:assert/strict";
import { type Turn, Turns } from "../src/cluster/turns.ts";

/** A turn there is room for at once. */
function taken(turns: Turns, task = "t"): Turn {
  const turn = turns.take(task);
  ok(turn !== null && !(turn instanceof Promise), "a turn at once");
  return turn;
}

Deno.test("A node times a job from when its pool could start it, not from when it was fetched", () => {
  let now = 0;
  const turns = new Turns(() => 1, undefined, () => now);
  turns.release(taken(turns), "t", 1); // a short task: one of its jobs may wait in the pool's queue
  const first = taken(turns);
  const second = taken(turns);
  now = 10;
  equal(turns.release(first, "slow", 1), 10);
  // The second waited 10 ms in the pool's queue behind the first: not its own time.
  now = 13;
  equal(turns.release(second, "slow", 1), 3);
});

Deno.test("A batch's calls, spread over the pool's workers, are timed each", () => {
  let now = 0;
  const turns = new Turns(() => 4, undefined, () => now);
  const batch = taken(turns);
  now = 6;
  // 8 calls on 4 workers in 6 ms: two rounds of 3 ms.
  equal(turns.release(batch, "short", 8), 3);
  const single = taken(turns);
  now = 8;
  equal(turns.release(single, "short", 1), 2);
});

Deno.test("A job that waits in the node for a turn is timed from when its turn ran", async () => {
  let now = 0;
  const turns = new Turns(() => 1, 4, () => now);
  turns.release(taken(turns), "t", 1);
  const first = taken(turns);
  const second = taken(turns);
  const waiting = turns.take("t");
  ok(waiting instanceof Promise, "a pool of one gives two turns at once to a short task");
  now = 5;
  turns.release(first, "t", 1);
  const third = await waiting;
  ok(third !== null);
  now = 9;
  equal(turns.release(second, "t", 1), 4);
  now = 12;
  equal(turns.release(third, "t", 1), 3);
});

Deno.test("A node past what it should hold hands back a job of a long or unknown task, and keeps a short one", () => {
  let now = 0;
  const turns = new Turns(() => 1, undefined, () => now);
  now = 0.5;
  turns.release(taken(turns, "short"), "short", 1);
  turns.arrived("long");
  now = 1;
  const long = taken(turns, "long");
  now = 11;
  turns.release(long, "long", 1);
  // After a 10 ms job, a node of one worker should hold two: it has them.
  taken(turns, "long");
  taken(turns, "long");
  equal(turns.take("long"), null, "a long task's job beyond what it should hold goes back");
  equal(turns.take("unknown"), null, "so does one of a task not known yet");
  ok(turns.take("short") instanceof Promise, "a short task's job is kept, to wait its turn");
});

Deno.test("What BullMQ may fetch for a node rises at once, falls at most once a second for a short task, and at once for a long one", () => {
  let now = 0;
  const turns = new Turns(() => 1, undefined, () => now);
  const run = (task: string, ms: number) => {
    const turn = taken(turns, task);
    now += ms;
    turns.release(turn, task, 1);
    return turns.fetching();
  };
  // Unknown: one ahead. A short task's 0.1 ms jobs: the most a node holds (16) at once.
  equal(turns.fetching(), 2);
  equal(run("short", 0.1), 16);
  // One slow job of it makes held() fall; what BullMQ may fetch does not (each fall and rise
  // again would cost a fetch of its own), for the rest of the second.
  equal(run("short", 1.5), 16);
  ok(turns.held() < 16, `held ${turns.held()}`);
  now = 999;
  equal(run("short", 1.5), 16);
  // A second later it falls to the most held() asked for in that second: still 16.
  now = 1_000;
  equal(run("short", 1.5), 16);
  // After a second of slow jobs only, it falls to what they ask for.
  now = 2_001;
  const slower = run("short", 1.5);
  equal(slower, turns.held());
  ok(slower < 16, `fell to ${slower}`);
  // A long task's job: at once, so that no more of it are held ahead.
  equal(run("long", 30), 2);
});

Deno.test("Jobs of a long or unknown task wait in the node, not in the pool, and a higher priority has them handed back", async () => {
  const turns = new Turns(() => 1, 8);
  const running = taken(turns, "long");
  const held = [0, 3, 0, -1].map((priority) => turns.take("long", { priority }));
  ok(
    held.every((each) => each instanceof Promise),
    "one turn at a time for a task not known short",
  );
  equal(turns.yieldTo(0, 5), 1, "only those of a lower priority");
  equal(await held[3], null, "the lowest first");
  equal(turns.yieldTo(2, 1), 1);
  equal(await held[2], null, "the newest first among equals");
  equal(turns.yieldTo(2, 1), 1);
  equal(await held[0], null);
  equal(turns.yieldTo(2, 1), 0, "none left below 2");
  turns.release(running, "long", 1);
  const next = await held[1];
  ok(next !== null && next !== undefined && !Number.isNaN(next.start), "the one kept runs next");
});

Deno.test("A bulk job (a chunk, a batch) may wait in the pool's queue behind the one running, whatever its task", () => {
  const turns = new Turns(() => 1, 8);
  taken(turns, "long");
  ok(!(turns.take("long", { bulk: true }) instanceof Promise), "a second turn at once");
  ok(turns.take("long", { bulk: true }) instanceof Promise, "not a third");
});
