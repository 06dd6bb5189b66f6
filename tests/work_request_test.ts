import { deepEqual, equal, notEqual, ok } from "node:assert/strict";
import { makeRequests, printException, ThreadPool, WorkRequest } from "../mod.ts";
import { raw, task as typed } from "./helpers.ts";

const task = { module: "file:///tasks.ts", name: "f" };

Deno.test("WorkRequest defaults: a unique id, no callback, the printing excCallback", () => {
  const a = new WorkRequest(task);
  const b = new WorkRequest(task);
  notEqual(a.requestID, b.requestID);
  deepEqual(a.args, []);
  equal(a.callback, null);
  equal(a.excCallback, printException);
  equal(a.exception, false);
  deepEqual(a.transfer, []);
});

Deno.test("WorkRequest keeps the id, callbacks and transfer list it is given", () => {
  const callback = () => {};
  const buffer = new ArrayBuffer(1);
  const request = new WorkRequest(task, [buffer], {
    requestID: "x",
    callback,
    excCallback: null,
    transfer: [buffer],
  });
  equal(request.requestID, "x");
  equal(request.callback, callback);
  equal(request.excCallback, null);
  deepEqual(request.transfer, [buffer]);
});

Deno.test("makeRequests() spreads array items and wraps any other item", () => {
  const callback = () => {};
  const requests = makeRequests(task, [[1, 2], 3, "s", [[4]]], callback, null);
  deepEqual(requests.map((r) => r.args), [[1, 2], [3], ["s"], [[4]]]);
  ok(requests.every((r) => r.callback === callback && r.excCallback === null));
  ok(requests.every((r) => r.task === task));
  equal(makeRequests(task, [])[0], undefined);
  equal(makeRequests(task, [1])[0]!.excCallback, printException);
});

Deno.test("WorkRequest and makeRequests() check a typed task's arguments and result type", async () => {
  const pool = new ThreadPool(1);
  try {
    const sums: number[] = [];
    const all: WorkRequest[] = [
      new WorkRequest(typed("add"), [1, 2], { callback: (_, sum) => sums.push(sum) }),
      new WorkRequest(typed("pidAfter"), [0], { callback: (_, pid) => sums.push(pid * 0) }),
      ...makeRequests(typed("add"), [[3, 4], [5, 6]], (_, sum) => sums.push(sum)),
      // A task whose type is not known takes anything; its result type is given by hand.
      new WorkRequest<number>(raw("add"), [7, 8], { callback: (_, sum) => sums.push(sum) }),
      ...makeRequests<number>(raw("add"), [[9, 10]], (_, sum) => sums.push(sum)),
    ];
    for (const request of all) await pool.putRequest(request);
    await pool.wait();
    deepEqual(sums.toSorted((a, b) => a - b), [0, 3, 7, 11, 15, 19]);
  } finally {
    await pool.close();
  }
  equal(pool.liveThreads, 0);
  // Type-checked, never run: each @ts-expect-error fails the check if the mistake compiles.
  const _mistakes = () => {
    // @ts-expect-error: add takes numbers
    new WorkRequest(typed("add"), ["1", 2]);
    // @ts-expect-error: add returns a number, not a string
    new WorkRequest(typed("add"), [1, 2], { callback: (_, sum: string) => sum });
    // @ts-expect-error: pidAfter resolves to a number, not a string
    new WorkRequest(typed("pidAfter"), [1], { callback: (_, pid: string) => pid });
    // @ts-expect-error: add takes numbers
    makeRequests(typed("add"), [["1", 2]]);
    // @ts-expect-error: add takes two numbers, not one
    makeRequests(typed("add"), [1]);
    // @ts-expect-error: add returns a number, not a string
    makeRequests(typed("add"), [[1, 2]], (_, sum: string) => sum);
  };
});
