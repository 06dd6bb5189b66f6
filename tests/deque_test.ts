import { deepEqual, equal } from "node:assert/strict";
import { Deque } from "../src/core/deque.ts";

Deno.test("Deque keeps FIFO order through growth and wrap-around", () => {
  const deque = new Deque<number>();
  const model: number[] = [];
  let next = 0;
  // A seeded mix of pushes, unshifts and shifts, checked against an array.
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let step = 0; step < 20_000; step++) {
    const r = random();
    if (r < 0.45) {
      deque.push(next);
      model.push(next++);
    } else if (r < 0.6) {
      deque.unshift(next);
      model.unshift(next++);
    } else {
      equal(deque.shift(), model.shift());
    }
    equal(deque.length, model.length);
    equal(deque.peek(), model[0]);
  }
  const rest: number[] = [];
  for (let item = deque.shift(); item !== undefined; item = deque.shift()) rest.push(item);
  deepEqual(rest, model);
  equal(deque.length, 0);
  equal(deque.shift(), undefined);
  equal(deque.peek(), undefined);
});
