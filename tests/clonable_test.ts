import { doesNotThrow, throws } from "node:assert/strict";
import { assertClonable } from "../src/pool/clonable.ts";

Deno.test("assertClonable() accepts what structured clone copies", () => {
  const cyclic: Record<string, unknown> = { n: 1 };
  cyclic.self = cyclic;
  doesNotThrow(() =>
    assertClonable([
      1,
      "s",
      null,
      undefined,
      10n,
      new Date(),
      /re/,
      new Uint8Array(4),
      new ArrayBuffer(2),
      new Map([[1, { a: [1] }]]),
      new Set([1]),
      cyclic,
      new Error("e"),
    ])
  );
});

Deno.test("assertClonable() names the path of a function or symbol", () => {
  throws(() => assertClonable([() => 1]), /args\[0\] to a worker: it is a function/);
  throws(() => assertClonable([1, { a: { b: Symbol() } }]), /args\[1\]\.a\.b .*a symbol/);
  throws(() => assertClonable([new Map([["k", () => 1]])]), /args\[0\]\.get\(k\)/);
  throws(() => assertClonable([new Set([Symbol()])]), /args\[0\]\.<item>/);
  throws(() => assertClonable([[0, [1, () => 2]]], "inputs[3]"), /inputs\[3\]\[0\]\[1\]\[1\]/);
});

Deno.test("assertClonable() names the path of a Proxy", () => {
  throws(() => assertClonable([new Proxy({}, {})]), /args\[0\] to a worker: it is a Proxy/);
  throws(
    () => assertClonable([{ list: [1, new Proxy([], {})] }]),
    /args\[0\]\.list\[1\] .*a Proxy/,
  );
});
