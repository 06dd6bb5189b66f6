import { deepEqual, equal, ok } from "node:assert/strict";
import { fromWireError, toWireError } from "../src/wire/error_wire.ts";

Deno.test("toWireError() and fromWireError() keep name, message, stack and cause across a clone", () => {
  class CustomError extends Error {
    override name = "CustomError";
  }
  const original = new CustomError("outer", { cause: new TypeError("inner", { cause: 5 }) });
  const rebuilt = fromWireError(structuredClone(toWireError(original)));
  ok(rebuilt instanceof Error);
  equal(rebuilt.name, "CustomError");
  equal(rebuilt.message, "outer");
  equal(rebuilt.stack, original.stack);
  const cause = rebuilt.cause as Error;
  ok(cause instanceof TypeError);
  equal(cause.message, "inner");
  equal(cause.cause, 5);
});

Deno.test("toWireError() turns an uncloneable cause and a non-Error into text", () => {
  const wire = structuredClone(toWireError(new Error("x", { cause: () => 1 })));
  deepEqual(wire.cause, { value: "[Function: cause]" });
  const thrown = fromWireError(structuredClone(toWireError({ code: 1 })));
  equal(thrown.name, "NonError");
  equal(thrown.message, "{ code: 1 }");
});

Deno.test("fromWireError() rebuilds Deno's own errors as their classes, and nothing from a prototype", () => {
  const denied = fromWireError(toWireError(new Deno.errors.NotCapable("no read")));
  ok(denied instanceof Deno.errors.NotCapable);
  equal(denied.message, "no read");
  const odd = fromWireError({ name: "constructor", message: "m" });
  equal(Object.getPrototypeOf(odd), Error.prototype);
  equal(odd.name, "constructor");
});

Deno.test("An error's own enumerable fields cross with it when they can be cloned; one that cannot stays behind", () => {
  const error = Object.assign(new RangeError("bad"), {
    code: "E_TEST",
    errno: -2,
    details: { value: 42 },
    handler: () => {},
  });
  Object.defineProperty(error, "__proto__", { value: { hijack: true }, enumerable: true });
  const back = fromWireError(structuredClone(toWireError(error))) as
    & RangeError
    & Record<string, unknown>;
  ok(back instanceof RangeError);
  equal(back.code, "E_TEST");
  equal(back.errno, -2);
  deepEqual(back.details, { value: 42 });
  equal("handler" in back, false);
  equal(Object.getPrototypeOf(back), RangeError.prototype, "a field named __proto__ stays a field");
  equal(back.message, "bad");
});
