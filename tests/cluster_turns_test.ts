import { equal, ok } from "node:assert/strict";
import { type Turn, Turns } from "../src/cluster/turns.ts";

/** A turn there is room for at once. */
function taken(turns: Turns): Turn {
  const turn = turns.take();
  ok(turn !== null && !(turn instanceof Promise), "a turn at once");
  return turn;
}

Deno.test("A node times a job from when its pool could start it, not from when it was fetched", () => {
  let now = 0;
  const turns = new Turns(() => 1, undefined, () => now);
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
  const first = taken(turns);
  const second = taken(turns);
  const waiting = turns.take();
  ok(waiting instanceof Promise, "a pool of one gives two turns at once");
  now = 5;
  turns.release(first, "t", 1);
  const third = await waiting;
  ok(third !== null);
  now = 9;
  equal(turns.release(second, "t", 1), 4);
  now = 12;
  equal(turns.release(third, "t", 1), 3);
});
