import { deepEqual, equal, match, ok, rejects, throws } from "node:assert/strict";
import { TaskError, taskModule, ThreadPool, UnstableFlagError } from "../mod.ts";
import { stripJsonc } from "../src/threads/jsonc.ts";
import { fromCommandLine } from "../src/threads/unstable_flag.ts";
import type * as Sandbox from "./fixtures/sandbox.ts";
import { poolTest, runDeno, task } from "./helpers.ts";

// This repository's deno.json enables "worker-options", so `deno test` here may grant.
const sandbox = taskModule<typeof Sandbox>(new URL("./fixtures/sandbox.ts", import.meta.url));
const allowed = new URL("./fixtures/data/allowed.txt", import.meta.url);
const secret = new URL("./fixtures/data/secret.txt", import.meta.url);

/** A task refused by Deno's permissions: a TaskError caused by NotCapable. */
function notCapable(error: unknown): boolean {
  ok(error instanceof TaskError, String(error));
  ok(error.cause instanceof Error);
  ok(error.cause instanceof Deno.errors.NotCapable, error.message);
  return true;
}

poolTest(
  'A pool with permissions "none" imports its task module, and its tasks can read nothing else',
  { workers: 1, permissions: "none" },
  async (pool) => {
    equal(await pool.run(task("add"), [1, 2]), 3);
    await rejects(pool.run(sandbox("readText"), [secret.pathname]), notCapable);
    // The pool goes on, on the same worker.
    equal(await pool.run(task("add"), [2, 2]), 4);
    const { completed, failed, workers } = pool.stats();
    deepEqual({ completed, failed, lost: workers.lost }, { completed: 2, failed: 1, lost: 0 });
  },
);

poolTest(
  "A permission a sandboxed task lacks is said to be the pool's, with the grant that opens it",
  { workers: 1, permissions: "none" },
  async (pool) => {
    const error = await pool.run(sandbox("readText"), [secret.pathname]).catch((e) => e);
    notCapable(error);
    const expected = `Requires read access to "${secret.pathname}", which the pool's ` +
      `'permissions' option withheld from its workers; grant it with permissions: ` +
      `{ read: ["${secret.pathname}"] }`;
    equal(error.message, expected);
    equal(error.cause.message, expected);
    ok(!/run again with/.test(error.stack), "the program's flags are not the fix");
  },
);

poolTest(
  "A sandboxed task module's own import it may not read is said to be the pool's, with the grant that opens it",
  { workers: 1, permissions: "none" },
  async (pool) => {
    const importer = {
      module: new URL("./fixtures/imports_sibling.ts", import.meta.url),
      name: "quadruple",
    };
    const imported = new URL("./fixtures/sandbox.ts", import.meta.url).pathname;
    const error = await pool.run(importer, [1]).catch((e) => e);
    ok(error instanceof TaskError, String(error));
    const first = String(error.message).split("\n")[0];
    equal(
      first,
      `Requires read access to "${imported}", which the pool's 'permissions' option withheld ` +
        `from its workers; grant it with permissions: { read: ["${imported}"] }`,
    );
    ok(!/run again with/.test(error.message), "the program's flags are not the fix");
    ok(String(error.message).includes("imports_sibling.ts"), "it says which module imported it");
    ok(!String(error.message).includes("\x1b["), "no terminal colours in the message");
  },
);

poolTest(
  "A sandboxed task module's import runs once the pool grants it",
  {
    workers: 1,
    permissions: { read: [new URL("./fixtures/sandbox.ts", import.meta.url).pathname] },
  },
  async (pool) => {
    const importer = {
      module: new URL("./fixtures/imports_sibling.ts", import.meta.url),
      name: "quadruple",
    };
    equal(await pool.run(importer, [1]), 4);
  },
);

Deno.test("A pool whose program may not read the pool's files says so in one line, at once", async () => {
  for (const flags of [[], ["--allow-read=."]]) {
    const { code, stdout, stderr } = await runDeno(
      [...flags, "--no-prompt", "../tasks_pool.ts"],
      { cwd: new URL("./fixtures/scripts/", import.meta.url) },
    );
    equal(code, 1, stderr);
    equal(stdout, "");
    const lines = stderr.trim().split("\n");
    equal(lines.length, 1, stderr);
    match(
      lines[0]!,
      /NotCapable: Cannot create the pool: this program may not read the pool's worker script .*worker\.ts; run Deno with --allow-read/,
    );
  }
});

poolTest(
  "A pool granted one file lets its tasks read that file and no other",
  { workers: 1, permissions: { read: [allowed] } },
  async (pool) => {
    equal(await pool.run(sandbox("readText"), [allowed.pathname]), "allowed\n");
    await rejects(pool.run(sandbox("readText"), [secret.pathname]), notCapable);
  },
);

poolTest(
  "A task may run a program only when the pool grants it",
  { workers: 1, permissions: "none" },
  async (pool) => {
    await rejects(pool.run(sandbox("spawn"), [Deno.execPath(), ["--version"]]), notCapable);
    await using granted = new ThreadPool(1, { permissions: { run: [Deno.execPath()] } });
    equal(await granted.run(sandbox("spawn"), [Deno.execPath(), ["--version"]]), 0);
  },
);

poolTest(
  "A task module first named after the threads started gets them replaced, granted it",
  { workers: 2, permissions: "none", prefetch: 4 },
  async (pool) => {
    equal(await pool.run(task("add"), [1, 1]), 2);
    const recycled = pool.stats().workers.recycled;
    // Both modules at once, many times: every request ends with its result.
    const runs = [];
    for (let i = 0; i < 40; i++) {
      runs.push(pool.run(task("add"), [i, 1]), pool.run(sandbox("double"), [i]));
    }
    const results = await Promise.all(runs);
    for (let i = 0; i < 40; i++) deepEqual(results.slice(2 * i, 2 * i + 2), [i + 1, 2 * i]);
    const { workers } = pool.stats();
    ok(workers.recycled > recycled, "no thread was replaced to grant the new module");
    equal(workers.lost, 0);
  },
);

Deno.test("new ThreadPool() refuses to grant what this process does not have", () => {
  // `deno test` here runs without --allow-ffi.
  throws(() => new ThreadPool(1, { permissions: { ffi: true } }), (error: Error) => {
    ok(error instanceof Deno.errors.NotCapable, String(error));
    match(error.message, /'permissions\.ffi'/);
    return true;
  });
});

Deno.test("new ThreadPool() rejects a malformed permissions option with a TypeError", () => {
  const bad: unknown[] = [5, "all", { files: true }, { read: 5 }, { net: [1] }, null, []];
  for (const permissions of bad) {
    throws(
      () => new ThreadPool(1, { permissions: permissions as Deno.PermissionOptions }),
      TypeError,
      Deno.inspect(permissions),
    );
  }
});

/** Runs a fixture script that uses `permissions`; `args` go before the script. */
function runFixture(folder: "flag_on" | "flag_off", args: string[], scriptArgs: string[] = []) {
  const dir = new URL(`./fixtures/${folder}/`, import.meta.url);
  return runDeno([...args, new URL("main.ts", dir).pathname, ...scriptArgs], {
    cwd: dir,
    timeout: 20_000,
  });
}

for (
  const [how, args, reason] of [
    ["without the flag (seen on the command line)", ["-A"], /but Deno was started without it/],
    [
      "without the flag (the command line unseen)",
      ["--allow-read"],
      /cannot tell whether it is on/,
    ],
    ["with --no-config", ["-A", "--no-config"], /with --no-config/],
  ] as const
) {
  Deno.test(`A pool with permissions, run ${how}, throws UnstableFlagError; Deno does not exit 70`, async () => {
    const folder = how === "with --no-config" ? "flag_on" : "flag_off";
    const { code, stdout, stderr } = await runFixture(folder, [...args]);
    ok(code !== 70, "Deno ended the process itself");
    equal(code, 1, stderr);
    equal(stdout, "");
    match(stderr, /UnstableFlagError/);
    match(stderr, /--unstable-worker-options/);
    match(stderr, /"unstable": \["worker-options"\]/);
    match(stderr, reason);
  });
}

Deno.test("A pool with permissions runs when Deno has the flag on its command line", async () => {
  const { code, stdout, stderr } = await runFixture("flag_off", [
    "-A",
    "--unstable-worker-options",
  ]);
  equal(code, 0, stderr);
  equal(stdout, "sum 5\n");
});

Deno.test("A pool with permissions runs when the deno.json Deno uses enables worker-options", async () => {
  const { code, stdout, stderr } = await runFixture("flag_on", ["--allow-read"]);
  equal(code, 0, stderr);
  equal(stdout, "sum 5\n");
});

Deno.test('A pool with permissions "inherit" needs no flag', async () => {
  const { code, stdout, stderr } = await runFixture("flag_off", ["--allow-read"], ["inherit"]);
  equal(code, 0, stderr);
  equal(stdout, "sum 5\n");
});

Deno.test("A call whose task module this process may not read fails with NotCapable, and the pool goes on", async () => {
  const root = new URL("../", import.meta.url);
  const own = ["mod.ts", "task.ts", "src/"].map((path) => new URL(path, root).pathname);
  const script = new URL("./fixtures/scripts/unreadable_module.ts", import.meta.url).pathname;
  const { code, stdout, stderr } = await runDeno(
    ["--unstable-worker-options", `--allow-read=${own.join(",")}`, script],
    { timeout: 20_000 },
  );
  equal(code, 0, stderr);
  match(stdout, /^NotCapable: Cannot grant the workers read access to task module .*tasks\.ts/m);
  match(stdout, /^data module 3$/m);
  match(stdout, /^live threads 0$/m);
});

Deno.test("A worker that cannot be built any more fails its request with WorkerLostError, not the process", async () => {
  const root = new URL("../", import.meta.url);
  const readable = ["mod.ts", "task.ts", "src/", "tests/fixtures/tasks.ts", "tests/fixtures/data/"]
    .map((path) => new URL(path, root).pathname);
  const script = new URL("./fixtures/scripts/cannot_grant.ts", import.meta.url).pathname;
  const { code, stdout, stderr } = await runDeno(
    ["--unstable-worker-options", `--allow-read=${readable.join(",")}`, script],
    { timeout: 20_000 },
  );
  equal(code, 0, stderr);
  match(stdout, /^before 3\nWorkerLostError: Worker #1 could not start: .+\nlive threads 0\n$/);
});

Deno.test("A remote task module's host is granted for import, and nothing else", async () => {
  const script = new URL("./fixtures/scripts/remote_module.ts", import.meta.url).pathname;
  const { code, stdout, stderr } = await runDeno([
    "-A",
    "--no-lock",
    "--unstable-worker-options",
    script,
  ], {
    timeout: 20_000,
  });
  equal(code, 0, stderr);
  equal(stdout, "add 5\nfetch NotCapable\n");
});

Deno.test("The flag is read from Deno's own words, not the script's", () => {
  const off = "tests/fixtures/flag_off/main.ts";
  const on = "tests/fixtures/flag_on/deno.json";
  equal(fromCommandLine(["run", "--unstable-worker-options", off]).enabled, true);
  equal(fromCommandLine(["--unstable-worker-options", off]).enabled, true);
  equal(fromCommandLine(["run", "-A", off, "--unstable-worker-options"]).enabled, false);
  equal(fromCommandLine(["test", "-A", off, "--unstable-worker-options"]).enabled, true);
  const offConfig = "tests/fixtures/flag_off/deno.json";
  equal(
    fromCommandLine(["test", "-c", offConfig, off, "--", "--unstable-worker-options"]).enabled,
    false,
  );
  equal(fromCommandLine(["run", "-c", on, off]).enabled, true);
  equal(fromCommandLine(["run", `--config=${on}`, off]).enabled, true);
  equal(fromCommandLine(["run", "--no-config", "tests/fixtures/flag_on/main.ts"]).enabled, false);
  equal(fromCommandLine(["run", "tests/fixtures/flag_on/main.ts"]).enabled, true);
});

Deno.test("A deno.jsonc is read with its comments and trailing commas", () => {
  const text = `{
    // worker options on
    "unstable": ["worker-options",], /* and "a // string" kept */
    "name": "a // b",
  }`;
  deepEqual(JSON.parse(stripJsonc(text)), { unstable: ["worker-options"], name: "a // b" });
});

Deno.test("UnstableFlagError names the flag and the deno.json setting", () => {
  const error = new UnstableFlagError(undefined, "somewhere");
  ok(error instanceof TypeError);
  equal(error.flag, "--unstable-worker-options");
  match(error.message, /unstableWorkerOptions: true/);
});

Deno.test("UnstableFlagError leads with the likeliest fix, in at most 300 characters", () => {
  const unseen = new UnstableFlagError(undefined, "the command line cannot be read");
  match(
    unseen.message,
    /cannot tell whether it is on[^.]*\. If you passed the flag, pass unstableWorkerOptions: true/,
  );
  equal(unseen.detail, "the command line cannot be read");
  const off = new UnstableFlagError(false, "Deno was started without it");
  match(off.message, /but Deno was started without it\. Run Deno with --unstable-worker-options/);
  for (const error of [unseen, off]) ok(error.message.length <= 300, `${error.message.length}`);
});
