import { equal, ok } from "node:assert/strict";
import { ThreadPool } from "../mod.ts";
import { LaneReader, LaneWriter } from "../src/wire/lane_codec.ts";
import { MAX_RECORD } from "../src/wire/lane.ts";
import { random } from "./fault_injection.ts";
import { raw } from "./helpers.ts";

/**
 * A value written out so that two values read the same only if they are the
 * same: types and prototypes, -0 and NaN, holes, key order, and which
 * objects are one object (by the order they were first met).
 */
function describe(value: unknown, seen: unknown[] = []): string {
  switch (typeof value) {
    case "number":
      return Object.is(value, -0) ? "-0" : `n${value}`;
    case "bigint":
      return `${value}n`;
    case "string":
      return `s${JSON.stringify([...value].map((c) => c.charCodeAt(0)))}`;
    case "undefined":
    case "boolean":
      return String(value);
    case "object": {
      if (value === null) return "null";
      const known = seen.indexOf(value);
      if (known !== -1) return `@${known}`;
      seen.push(value);
      const proto = Object.getPrototypeOf(value);
      const kind = proto === null ? "null-proto" : proto.constructor.name;
      if (value instanceof Date) return `Date(${value.getTime()})`;
      if (value instanceof Map) {
        return `Map[${[...value].map(([k, v]) => `${describe(k, seen)}=>${describe(v, seen)}`)}]`;
      }
      if (value instanceof Set) return `Set[${[...value].map((v) => describe(v, seen))}]`;
      if (ArrayBuffer.isView(value)) return `${kind}[${[...new Uint8Array(value.buffer)]}]`;
      if (value instanceof Error) return `${kind}(${value.name}: ${value.message})`;
      const keys = Reflect.ownKeys(value).filter((key) => typeof key === "string");
      const length = Array.isArray(value) ? `/${value.length}` : "";
      const record = value as Record<string, unknown>;
      return `${kind}${length}{${keys.map((k) => `${k}:${describe(record[k as string], seen)}`)}}`;
    }
    default:
      return typeof value;
  }
}

/** A seeded corpus: values the lane carries, and values it must hand to the message path. */
function corpus(seed: number, count: number): unknown[] {
  const next = random(seed);
  const pick = <T>(items: T[]): T => items[Math.floor(next() * items.length)]!;
  const leaf = (): unknown =>
    pick<() => unknown>([
      () => undefined,
      () => null,
      () => next() < 0.5,
      () => pick([0, -0, NaN, Infinity, -Infinity, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 2 ** 53]),
      () => Math.floor(next() * 2000) - 1000,
      () => (next() - 0.5) * 1e9,
      () => pick(["", "a", "héllo", "\ud800", "\udc00x", "😀", "\u0000", "x".repeat(40)]),
      () => String.fromCharCode(...Array.from({ length: 8 }, () => Math.floor(next() * 65536))),
      () => 12345678901234567890n,
      () => new Date(Math.floor(next() * 1e12)),
      () => new Uint8Array([1, 2, 3]),
    ])();
  const value = (depth: number): unknown => {
    const r = next();
    if (depth > 3 || r < 0.4) return leaf();
    if (r < 0.6) return Array.from({ length: Math.floor(next() * 5) }, () => value(depth + 1));
    if (r < 0.8) {
      const object: Record<string, unknown> = {};
      for (let i = Math.floor(next() * 4); i > 0; i--) {
        object[pick(["a", "b", "2", "10", "key", "ü", "0"])] = value(depth + 1);
      }
      return object;
    }
    return pick<() => unknown>([
      () => [1, , 3],
      () => Object.assign([1, 2], { extra: true }),
      () => {
        const shared = { shared: 1 };
        return [shared, shared];
      },
      () => {
        const cycle: Record<string, unknown> = {};
        cycle.self = cycle;
        return cycle;
      },
      () => JSON.parse('{"__proto__": {"polluted": 1}, "b": 2}'),
      () => Object.create(null),
      () => new Map([[1, { a: 1 }]]),
      () => new Set(["x"]),
      () => new RangeError("kept"),
      () => "y".repeat(MAX_RECORD),
      () => Array.from({ length: 12 }, (_, i) => ({ i, deep: [[[[[[[[[[i]]]]]]]]]] })),
    ])();
  };
  return Array.from({ length: count }, () => value(0));
}

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
