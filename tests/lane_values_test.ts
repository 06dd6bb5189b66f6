import { equal, match, ok, throws } from "node:assert/strict";
import { TaskError, ThreadPool } from "../mod.ts";
import { LaneReader, LaneWriter } from "../src/wire/lane_codec.ts";
import { MAX_RECORD } from "../src/wire/lane.ts";
import { raw } from "./helpers.ts";
import { corpus, describe } from "./value_corpus.ts";

Deno.test("The lane's encoding gives what structured cloning gives, or says no", () => {
  const writer = new LaneWriter(new Uint8Array(MAX_RECORD));
  let carried = 0;
  let refused = 0;
  for (const value of corpus(7, 3_000)) {
    writer.at = 0;
    const expected = describe(structuredClone(value));
    if (!writer.value(value)) {
      refused++;
      continue;
    }
    carried++;
    const reader = new LaneReader(writer.bytes);
    equal(describe(reader.value()), expected);
    equal(reader.at, writer.at, "the reader reads exactly what was written");
  }
  ok(carried > 1_000 && refused > 300, `carried ${carried}, refused ${refused}`);
});

Deno.test("A value comes back the same by the lane as by message, as an argument and a result", async () => {
  const values = corpus(11, 600);
  await using laned = new ThreadPool(2, { lane: true });
  await using messaged = new ThreadPool(2, { lane: false });
  const echo = raw("echo");
  const [byLane, byMessage] = await Promise.all([
    Promise.all(values.map((value) => laned.run(echo, [value]))),
    Promise.all(values.map((value) => messaged.run(echo, [value]))),
  ]);
  for (let i = 0; i < values.length; i++) {
    const expected = describe(structuredClone(values[i]));
    equal(describe(byMessage[i]), expected, `message path, value ${i}`);
    equal(describe(byLane[i]), expected, `lane, value ${i}`);
  }
  await laned.close();
  await messaged.close();
  equal(laned.liveThreads + messaged.liveThreads, 0);
});

Deno.test("The lane refuses a Proxy, as structured cloning does", () => {
  const writer = new LaneWriter(new Uint8Array(MAX_RECORD));
  for (
    const value of [new Proxy({ a: 1 }, {}), new Proxy([1, 2], {}), [{ b: new Proxy({}, {}) }]]
  ) {
    throws(() => structuredClone(value));
    writer.at = 0;
    equal(writer.value(value), false);
  }
});

Deno.test("A task's result that cannot be cloned fails alike by the lane and by message", async () => {
  await using laned = new ThreadPool(1, { lane: true });
  await using messaged = new ThreadPool(1, { lane: false });
  for (const pool of [laned, messaged]) {
    // Twice: the second call's task is known to be tiny, and its result tried in the lane.
    for (let i = 0; i < 2; i++) {
      const error = await pool.run(raw("returnProxy")).catch((e) => e);
      ok(error instanceof TaskError, String(error));
      match(error.message, /could not be sent back/);
    }
  }
  await laned.close();
  await messaged.close();
  equal(laned.liveThreads + messaged.liveThreads, 0);
});
