import { equal, match, ok } from "node:assert/strict";
import { redisInstalled } from "./cluster_helpers.ts";
import { runDeno } from "./helpers.ts";

const root = new URL("../", import.meta.url);

function run(example: string, flags = ["--allow-read"]) {
  return runDeno([...flags, `examples/${example}`], { cwd: root });
}

Deno.test("examples/quick_start.ts runs as the README says, and the README quotes it whole", async () => {
  const { code, stdout, stderr } = await run("quick_start.ts");
  equal(code, 0, stderr);
  equal(stdout, "6765\n55\n6765\n832040\n");
  const readme = await Deno.readTextFile(new URL("README.md", root));
  const source = await Deno.readTextFile(new URL("examples/quick_start.ts", root));
  ok(
    readme.includes("```ts ignore\n" + source + "```"),
    "README's quick start differs from the file",
  );
});

Deno.test("examples/demo.ts runs threadpool.py's scenario to the end", async () => {
  const { code, stdout, stderr } = await run("demo.ts");
  equal(code, 0, stderr);
  equal(stdout.match(/^Work request #\d+ added\.$/gm)?.length, 40);
  const handled = stdout.match(/^\*\*\*\* (Result from|Exception occurred in) request #\d+/gm);
  equal(handled?.length, 40, "every request reached exactly one callback");
  match(stdout, /\*\*\*\* Adding 3 more worker threads/);
  match(stdout, /\*\*\*\* Dismissing 2 worker threads/);
  match(stdout, /\*\*\*\* No pending results\./);
  match(stdout, /Done: 0 worker threads left alive\./);
});

Deno.test("examples/cpu_bound.ts prints a speedup for each pool", async () => {
  const { code, stdout, stderr } = await run("cpu_bound.ts");
  equal(code, 0, stderr);
  match(stdout, /sequential, this thread: \d+ ms/);
  match(stdout, /pool of 1: \d+ ms, speedup \d+\.\d+×/);
});

Deno.test("examples/cancel_and_timeout.ts shows abort, timeout and a cooperative loop", async () => {
  const { code, stdout, stderr } = await run("cancel_and_timeout.ts");
  equal(code, 0, stderr);
  match(stdout, /1\. aborted: no longer needed/);
  match(stdout, /2\. signal timeout: TimeoutError/);
  match(stdout, /3\. timeout: true after \d+ ms; workers abandoned so far: 0/);
  match(stdout, /4\. TaskTimeoutError/);
  match(stdout, /workers abandoned: 1, pool size: 1/);
  match(stdout, /5\. finished: 9592 primes/);
});

Deno.test("examples/progress.ts maps thousands of inputs with a progress line", async () => {
  const { code, stdout, stderr } = await run("progress.ts");
  equal(code, 0, stderr);
  match(stdout, /5000\/5000 done, 0 running, 0 queued/);
  match(stdout, /5000 results \(sum \d+\) in \d+ ms on \d+ workers/);
  match(stdout, /counting primes: 100%\n148933 primes below 2,000,000\n$/);
});

Deno.test("examples/per_thread.ts opens a log on each thread and its finalizer closes it", async () => {
  const { code, stdout, stderr } = await run("per_thread.ts", ["--allow-read", "--allow-write"]);
  equal(code, 0, stderr);
  equal(
    stdout,
    "ca978112ca1bbdca\n3e23e8160039594a\n2e7d2c03a9507ae2\n18ac3e7343f01689\n" +
      "4 hashes logged; the log closed by 2 threads\n",
  );
});

Deno.test("examples/stream.ts streams a file's records and leaves half-way, the task stopping too", async () => {
  const { code, stdout, stderr } = await run("stream.ts", ["--allow-read", "--allow-write"]);
  equal(code, 0, stderr);
  match(stdout, /^read 50000 records, amounts summing to 2475000\n/);
  const ahead = /the task parsed (\d+) more \(at most 64 ahead\); its file closed: true\n$/
    .exec(stdout)?.[1];
  ok(ahead !== undefined && Number(ahead) <= 64, stdout);
});

Deno.test("examples/sandboxed.ts shows a task refused the network and one granted it", async () => {
  const flags = ["--allow-read", "--allow-net=127.0.0.1", "--unstable-worker-options"];
  const { code, stdout, stderr } = await run("sandboxed.ts", flags);
  equal(code, 0, stderr);
  match(stdout, /permissions "none":\n {2}count words: 4\n/);
  match(stdout, / {2}fetch: refused, NotCapable: Requires net access to "127\.0\.0\.1:\d+"\n/);
  match(
    stdout,
    /permissions \{ net: \["127\.0\.0\.1:\d+"\] \}:\n {2}fetch: hello from the server\n/,
  );
  equal(stdout.match(/read deno\.json: refused, NotCapable: Requires read access/g)?.length, 2);
});

Deno.test("examples/sandboxed.ts runs outside this repository with the README's import map and command", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", root));
  const section = readme.slice(readme.indexOf("### Use from a checkout"));
  const map = section.slice(section.indexOf("```json\n") + 8, section.indexOf("```\n", 8));
  const row = readme.split("\n").find((line) => line.includes("[`examples/sandboxed.ts`]"))!;
  const command = /`deno run ([^`]+) examples\/sandboxed\.ts`/.exec(row)![1]!.split(" ");
  const place = await Deno.makeTempDir();
  try {
    // The README's layout: the checkout beside the project.
    await Deno.symlink(root.pathname, `${place}/threadpool`);
    const app = `${place}/app`;
    await Deno.mkdir(`${app}/examples`, { recursive: true });
    await Deno.writeTextFile(`${app}/deno.json`, map);
    for (const file of ["sandboxed.ts", "sandboxed_tasks.ts"]) {
      await Deno.copyFile(new URL(`examples/${file}`, root), `${app}/examples/${file}`);
    }
    const { code, stdout, stderr } = await runDeno([...command, "examples/sandboxed.ts"], {
      cwd: new URL(`file://${app}/`),
    });
    equal(code, 0, stderr);
    match(stdout, /permissions "none":\n {2}count words: 4\n/);
    match(stdout, /fetch: hello from the server\n/);
  } finally {
    await Deno.remove(place, { recursive: true });
  }
});

Deno.test({
  name:
    "examples/cluster.ts runs a map() on two nodes through a local redis-server, as the README says",
  ignore: !redisInstalled && Deno.env.get("CI") !== "true",
  async fn() {
    const flags = ["--allow-read", "--allow-net", "--allow-env", "--allow-sys", "--allow-run"];
    const { code, stdout, stderr } = await run("cluster.ts", flags);
    equal(code, 0, stderr);
    match(stdout, /two nodes ready\n32 × fib\(27\) = 6285376 in \d+ ms\n/);
    const counts = [...stdout.matchAll(/^node \d+ ran (\d+)$/gm)].map((m) => Number(m[1]));
    equal(counts.reduce((a, b) => a + b, 0), 32, stdout);
  },
});
