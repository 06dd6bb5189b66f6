import { deepEqual, equal, fail, ok } from "node:assert/strict";
import {
  makeRequests,
  taskModule,
  ThreadPool,
  type WorkerExitDetail,
  WorkRequest,
} from "../mod.ts";
import { occupy, poolTest, raw, task } from "./helpers.ts";

type Refused = typeof TypeError | typeof RangeError;
/** A call given one malformed value, the error it must throw, and what its message must quote. */
type Row = [call: string, error: Refused, quotes: string[], attempt: (pool: ThreadPool) => unknown];

function detached(): ArrayBuffer {
  const buffer = new ArrayBuffer(8);
  structuredClone(buffer, { transfer: [buffer] });
  return buffer;
}

const bytes = new Uint8Array(8);
const buffer = new ArrayBuffer(8);
const add = task("add");
const bad = (value: unknown): never => value as never;

const rows: Row[] = [
  ["new ThreadPool()", TypeError, ["'numWorkers'", '"4"'], () => new ThreadPool(bad("4"))],
  ["new ThreadPool()", RangeError, ["'numWorkers'", "-1"], () => new ThreadPool(-1)],
  ["new ThreadPool()", RangeError, ["'numWorkers'", "1.5"], () => new ThreadPool(1.5)],
  ["new ThreadPool()", RangeError, ["'numWorkers'", "NaN"], () => new ThreadPool(NaN)],
  ["new ThreadPool()", TypeError, ["'options'", '"fast"'], () => new ThreadPool(0, bad("fast"))],
  [
    "new ThreadPool()",
    TypeError,
    ["'maxQueue'", '"10"'],
    () => new ThreadPool(0, { maxQueue: bad("10") }),
  ],
  ["new ThreadPool()", RangeError, ["'maxQueue'", "-1"], () => new ThreadPool(0, { maxQueue: -1 })],
  [
    "new ThreadPool()",
    RangeError,
    ["'maxResults'", "NaN"],
    () => new ThreadPool(0, { maxResults: NaN }),
  ],
  [
    "new ThreadPool()",
    TypeError,
    ["'idleTimeout'", '"250"'],
    () => new ThreadPool(0, { idleTimeout: bad("250") }),
  ],
  [
    "new ThreadPool()",
    RangeError,
    ["'idleTimeout'", "-5"],
    () => new ThreadPool(0, { idleTimeout: -5 }),
  ],
  [
    "new ThreadPool()",
    RangeError,
    ["'concurrency'", "0"],
    () => new ThreadPool(0, { concurrency: 0 }),
  ],
  [
    "new ThreadPool()",
    TypeError,
    ["'concurrency'", '"2"'],
    () => new ThreadPool(0, { concurrency: bad("2") }),
  ],
  [
    "new ThreadPool()",
    RangeError,
    ["'prefetch'", "1.5"],
    () => new ThreadPool(0, { prefetch: 1.5 }),
  ],
  ["new ThreadPool()", RangeError, ["'timeout'", "NaN"], () => new ThreadPool(0, { timeout: NaN })],
  [
    "new ThreadPool()",
    TypeError,
    ["'timeout'", '"1s"'],
    () => new ThreadPool(0, { timeout: bad("1s") }),
  ],
  [
    "new ThreadPool()",
    RangeError,
    ["'cancelGrace'", "-1"],
    () => new ThreadPool(0, { cancelGrace: -1 }),
  ],
  [
    "new ThreadPool()",
    RangeError,
    ["'maxTasksPerWorker'", "Infinity"],
    () => new ThreadPool(0, { maxTasksPerWorker: Infinity }),
  ],
  ["new ThreadPool()", TypeError, ["'name'", "42"], () => new ThreadPool(0, { name: bad(42) })],
  [
    "new ThreadPool()",
    TypeError,
    ["'unstableWorkerOptions'", '"yes"'],
    () => new ThreadPool(0, { unstableWorkerOptions: bad("yes") }),
  ],
  [
    "new ThreadPool()",
    TypeError,
    ["'permissions'", '"all"'],
    () => new ThreadPool(0, { permissions: bad("all") }),
  ],
  [
    "new ThreadPool()",
    TypeError,
    ["'permissions.read'", "42"],
    () => new ThreadPool(0, { permissions: { read: bad(42) } }),
  ],
  ["createWorkers()", TypeError, ["'count'", '"2"'], (pool) => pool.createWorkers(bad("2"))],
  ["createWorkers()", RangeError, ["'count'", "-1"], (pool) => pool.createWorkers(-1)],
  ["dismissWorkers()", TypeError, ["'count'", '"1"'], (pool) => pool.dismissWorkers(bad("1"))],
  [
    "dismissWorkers()",
    TypeError,
    ["'join'", '"yes"'],
    (pool) => pool.dismissWorkers(0, { join: bad("yes") }),
  ],
  [
    "dismissWorkers()",
    TypeError,
    ["'options'", "true"],
    (pool) => pool.dismissWorkers(0, bad(true)),
  ],
  ["putRequest()", TypeError, ["not a WorkRequest"], (pool) => pool.putRequest(bad({ task: add }))],
  [
    "putRequest()",
    TypeError,
    ["'block'", '"no"'],
    (pool) => pool.putRequest(new WorkRequest(add, [1, 1]), { block: bad("no") }),
  ],
  [
    "putRequest()",
    RangeError,
    ["'timeout'", "NaN"],
    (pool) => pool.putRequest(new WorkRequest(add, [1, 1]), { timeout: NaN }),
  ],
  [
    "putRequest()",
    TypeError,
    ["'options'", '"x"'],
    (pool) => pool.putRequest(new WorkRequest(add, [1, 1]), bad("x")),
  ],
  [
    "putRequest()",
    TypeError,
    ["tasks.ts", "relative"],
    (pool) => pool.putRequest(new WorkRequest({ module: "tasks.ts" })),
  ],
  ["poll()", TypeError, ["'block'", "1"], (pool) => pool.poll({ block: bad(1) })],
  ["poll()", TypeError, ["'options'", '"now"'], (pool) => pool.poll(bad("now"))],
  ["run()", TypeError, ["'args'", '"abc"'], (pool) => pool.run(add, bad("abc"))],
  [
    "run()",
    TypeError,
    ["'transfer'", "ArrayBuffer"],
    (pool) => pool.run(raw("echo"), [buffer], { transfer: bad(buffer) }),
  ],
  [
    "run()",
    TypeError,
    ["'transfer[0]'", "5"],
    (pool) => pool.run(raw("echo"), [buffer], { transfer: bad([5]) }),
  ],
  [
    "run()",
    TypeError,
    ["'transfer[0]'", ".buffer"],
    (pool) => pool.run(raw("echo"), [bytes], { transfer: bad([bytes]) }),
  ],
  [
    "run()",
    TypeError,
    ["'transfer[0]'", "detached"],
    (pool) => pool.run(raw("echo"), [1], { transfer: [detached()] }),
  ],
  [
    "run()",
    TypeError,
    ["'transfer[1]'", "once"],
    (pool) => pool.run(raw("echo"), [buffer], { transfer: [buffer, buffer] }),
  ],
  [
    "run()",
    TypeError,
    ["'transfer[0]'", "{}"],
    (pool) => pool.run(raw("echo"), [1], { transfer: bad([{}]) }),
  ],
  ["run()", TypeError, ["'signal'", "{}"], (pool) => pool.run(add, [1, 1], { signal: bad({}) })],
  [
    "run()",
    TypeError,
    ["'timeout'", '"10"'],
    (pool) => pool.run(add, [1, 1], { timeout: bad("10") }),
  ],
  ["run()", RangeError, ["'timeout'", "-1"], (pool) => pool.run(add, [1, 1], { timeout: -1 })],
  ["run()", TypeError, ["'options'", "5"], (pool) => pool.run(add, [1, 1], bad(5))],
  ["run()", TypeError, ['"x"', "task"], (pool) => pool.run(bad("x"))],
  [
    "run()",
    TypeError,
    ["/abs/tasks.ts", "file path", "file:///abs/tasks.ts"],
    (pool) => pool.run({ module: "/abs/tasks.ts" }, []),
  ],
  ["run()", TypeError, ["args[0]", "a function"], (pool) => pool.run(raw("echo"), [() => 1])],
  ["map()", TypeError, ["'inputs'", "5"], (pool) => pool.map(add, bad(5)).next()],
  [
    "map()",
    TypeError,
    ["'chunkSize'", '"2"'],
    (pool) => pool.map(add, [], { chunkSize: bad("2") }).next(),
  ],
  ["map()", RangeError, ["'chunkSize'", "0"], (pool) => pool.map(add, [], { chunkSize: 0 }).next()],
  [
    "map()",
    TypeError,
    ["'ordered'", '"yes"'],
    (pool) => pool.map(add, [], { ordered: bad("yes") }).next(),
  ],
  ["map()", RangeError, ["'timeout'", "NaN"], (pool) => pool.map(add, [], { timeout: NaN }).next()],
  [
    "map()",
    TypeError,
    ["'signal'", '"stop"'],
    (pool) => pool.map(add, [], { signal: bad("stop") }).next(),
  ],
  ["map()", TypeError, ["'options'", "[]"], (pool) => pool.map(add, [], bad([])).next()],
  [
    "map()",
    TypeError,
    ["inputs[1][0]", "a symbol"],
    (pool) => pool.map(raw("echo"), [[1], [Symbol()]]).next(),
  ],
  ["close()", TypeError, ["'force'", '"yes"'], (pool) => pool.close({ force: bad("yes") })],
  ["new WorkRequest()", TypeError, ["'args'", '"abc"'], () => new WorkRequest(add, bad("abc"))],
  [
    "new WorkRequest()",
    TypeError,
    ["'requestID'", "{}"],
    () => new WorkRequest(add, [1, 2], { requestID: bad({}) }),
  ],
  [
    "new WorkRequest()",
    TypeError,
    ["'callback'", '"print"'],
    () => new WorkRequest(add, [1, 2], { callback: bad("print") }),
  ],
  [
    "new WorkRequest()",
    TypeError,
    ["'excCallback'", "5"],
    () => new WorkRequest(add, [1, 2], { excCallback: bad(5) }),
  ],
  [
    "new WorkRequest()",
    TypeError,
    ["'transfer'", "ArrayBuffer"],
    () => new WorkRequest(add, [1, 2], { transfer: bad(buffer) }),
  ],
  [
    "new WorkRequest()",
    TypeError,
    ["'signal'", "{}"],
    () => new WorkRequest(add, [1, 2], { signal: bad({}) }),
  ],
  [
    "new WorkRequest()",
    RangeError,
    ["'timeout'", "-1"],
    () => new WorkRequest(add, [1, 2], { timeout: -1 }),
  ],
  ["new WorkRequest()", TypeError, ["'options'", "7"], () => new WorkRequest(add, [1, 2], bad(7))],
  ["makeRequests()", TypeError, ["'argsList'", "5"], () => makeRequests(add, bad(5))],
  ["makeRequests()", TypeError, ["'callback'", '"f"'], () => makeRequests(add, [[1, 2]], bad("f"))],
  [
    "makeRequests()",
    TypeError,
    ["'excCallback'", "{}"],
    () => makeRequests(add, [[1, 2]], null, bad({})),
  ],
  ["taskModule()", TypeError, ["task module", "5"], () => taskModule(bad(5))],
  ["taskModule()", TypeError, ['"tasks.ts"', "relative"], () => taskModule("tasks.ts")],
];

/** What the attempt threw or rejected with; fails the test if it was accepted. */
async function refusal(attempt: () => unknown): Promise<unknown> {
  try {
    await attempt();
  } catch (error) {
    return error;
  }
  fail("the call was accepted");
}

poolTest(
  "Every public call refuses a malformed argument or option at the call, naming it and quoting the value, and nothing queued or running is touched",
  { workers: 1 },
  async (pool) => {
    const exits: WorkerExitDetail[] = [];
    pool.addEventListener("workerexit", (e) => exits.push((e as CustomEvent).detail));
    const { gate, running } = await occupy(pool, 7);
    const queued = pool.run(add, [20, 22]);
    for (const [call, error, quotes, attempt] of rows) {
      const where = `${call} with ${quotes.join(" ")}`;
      const refused = await refusal(() => attempt(pool));
      ok(refused instanceof error, `${where}: ${refused}`);
      for (const quoted of quotes) {
        ok(refused.message.includes(quoted), `${where}: ${refused.message}`);
      }
      equal(pool.size, 1, where);
      equal(pool.queued, 1, where);
    }
    gate.open();
    equal(await running, 7);
    equal(await queued, 42);
    equal(
      await pool.run(raw("echo"), [buffer], { transfer: [buffer] }).then((b) =>
        (b as ArrayBuffer).byteLength
      ),
      8,
    );
    deepEqual(exits, [], "no worker was lost");
  },
);

poolTest(
  "A malformed transfer list costs only its own call: the same task, and requests in the same burst, run",
  { workers: 1 },
  async (pool) => {
    const exits: WorkerExitDetail[] = [];
    pool.addEventListener("workerexit", (e) => exits.push((e as CustomEvent).detail));
    const first = new ArrayBuffer(4);
    const burst = [
      pool.run(raw("echo"), [first], { transfer: bad(first) }),
      pool.run(raw("echo"), ["same burst"]),
      pool.run(raw("echo"), [new Uint8Array(first)], { transfer: [first] }),
    ];
    const [refused, same, moved] = await Promise.allSettled(burst);
    equal(refused!.status, "rejected");
    ok((refused as PromiseRejectedResult).reason instanceof TypeError);
    deepEqual(same, { status: "fulfilled", value: "same burst" });
    equal((moved as PromiseFulfilledResult<Uint8Array>).value.byteLength, 4);
    equal(await pool.run(raw("echo"), ["later"]), "later");
    deepEqual(exits, [], "no worker was lost");
  },
);

poolTest(
  "A buffer transferred by two requests of one burst fails the second only, at dispatch",
  { workers: 1 },
  async (pool) => {
    const exits: WorkerExitDetail[] = [];
    pool.addEventListener("workerexit", (e) => exits.push((e as CustomEvent).detail));
    const shared = new ArrayBuffer(4);
    const [once, twice, other] = await Promise.allSettled([
      pool.run(raw("echo"), [shared], { transfer: [shared] }),
      pool.run(raw("echo"), [shared], { transfer: [shared] }),
      pool.run(raw("echo"), ["other"]),
    ]);
    equal((once as PromiseFulfilledResult<ArrayBuffer>).value.byteLength, 4);
    ok((twice as PromiseRejectedResult).reason instanceof TypeError, String(twice));
    deepEqual(other, { status: "fulfilled", value: "other" });
    equal(await pool.run(raw("echo"), ["later"]), "later");
    deepEqual(exits, [], "no worker was lost");
  },
);
