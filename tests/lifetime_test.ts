import { equal, match, ok } from "node:assert/strict";
import { runDeno } from "./helpers.ts";

function runScript(name: string, permissions: string[]) {
  const script = new URL(`./fixtures/scripts/${name}`, import.meta.url);
  return runDeno([...permissions, script.pathname], { timeout: 20_000 });
}

Deno.test("A script that never calls close() still exits by itself", async () => {
  const { code, stdout, stderr } = await runScript("forgets_close.ts", ["--allow-read"]);
  equal(code, 0, stderr);
  match(stdout, /result 3\nresult 4\n/);
  match(stdout, /exited \d+ ms after the last result/);
});

Deno.test("A worker's death never stops the user's process", async () => {
  const { code, stdout, stderr } = await runScript("survives_deaths.ts", ["--allow-read"]);
  equal(code, 0, stderr);
  for (const name of ["exit", "closeSelf", "uncaughtLater", "unhandledRejection"]) {
    ok(stdout.includes(`${name} WorkerLostError`), stdout);
  }
  ok(stdout.includes("still here 2"), stdout);
});

Deno.test("A worker that cannot start fails its request with a clear WorkerLostError", async () => {
  // The pool checks that it may read its worker script; the modules that script imports fail.
  const entry = new URL("../src/worker/worker.ts", import.meta.url).pathname;
  const { code, stdout, stderr } = await runScript("cannot_start.ts", [`--allow-read=${entry}`]);
  equal(code, 0, stderr);
  match(stdout, /WorkerLostError: Worker #1 was lost before it could start: .*read access/);
  match(stdout, /live threads 0/);
});
