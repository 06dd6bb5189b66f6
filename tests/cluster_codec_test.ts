import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { decode, encode } from "../src/cluster/codec.ts";
import { corpus, describe } from "./value_corpus.ts";

Deno.test("A value through Redis's encoding is what structured cloning gives, by JSON or by bytes", () => {
  let asJson = 0;
  let asBytes = 0;
  for (const value of corpus(13, 3_000)) {
    const text = encode(value, "the value", Infinity);
    if (text.startsWith("~")) asJson++;
    else asBytes++;
    equal(describe(decode(text)), describe(structuredClone(value)));
  }
  ok(asJson > 500 && asBytes > 500, `${asJson} as JSON, ${asBytes} as bytes`);
});

Deno.test("The encoding refuses what cannot be cloned, and what is over the limit, either way", () => {
  throws(() => encode([() => 1], "the arguments", Infinity), TypeError);
  throws(() => encode({ s: Symbol("x") }, "the arguments", Infinity), TypeError);
  throws(() => encode([new Proxy({}, {})], "the arguments", Infinity), TypeError);
  throws(() => encode(["x".repeat(1_200)], "the arguments", 1_000), /over 'maxPayload' \(1000\)/);
  throws(() => encode([new Map([[1, "x".repeat(2_000)]])], "the arguments", 1_000), RangeError);
  // Its JSON might be over (3 bytes a character at most): measured as bytes, it is not.
  deepEqual(decode(encode(["x".repeat(400)], "the arguments", 1_000)), ["x".repeat(400)]);
});
