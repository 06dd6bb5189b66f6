import { deepEqual, equal, notEqual, ok } from "node:assert/strict";
import { makeRequests, printException, WorkRequest } from "../mod.ts";

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
