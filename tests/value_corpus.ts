import { MAX_RECORD } from "../src/wire/lane.ts";
import { random } from "./fault_injection.ts";

/** Values to carry across threads and machines, and a way to compare what arrives. */

/**
 * A value written out so that two values read the same only if they are the
 * same: types and prototypes, -0 and NaN, holes, key order, and which
 * objects are one object (by the order they were first met).
 */
export function describe(value: unknown, seen: unknown[] = []): string {
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
export function corpus(seed: number, count: number): unknown[] {
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
