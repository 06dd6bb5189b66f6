/**
 * The same requests on several machines, on one machine: starts a private
 * redis-server (it must be on PATH), two nodes (serve.ts) as processes, and
 * a ClusterPool that maps a CPU-bound task over them; prints which node ran
 * how many, then stops everything it started.
 *
 * Run: deno run --allow-read --allow-net --allow-env --allow-sys --allow-run examples/cluster.ts
 */
import { taskModule } from "@scope/threadpool";
import { ClusterPool } from "@scope/threadpool/cluster";
import type * as Tasks from "./cluster_tasks.ts";

const here = new URL("./", import.meta.url);
const root = new URL("../", here);
const port = (() => {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 }); // a free port
  probe.close();
  return (probe.addr as Deno.NetAddr).port;
})();
const url = `redis://127.0.0.1:${port}`;

/** Starts a process and waits until it prints a line matching `ready`. */
async function start(command: string, args: string[], ready: RegExp): Promise<Deno.ChildProcess> {
  const child = new Deno.Command(command, { args, cwd: root, stdout: "piped", stderr: "inherit" })
    .spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!ready.test(text)) {
    const { value, done } = await lines.read();
    if (done) throw new Error(`${command} ended before it was ready:\n${text}`);
    text += value;
  }
  (async () => {
    while (!(await lines.read()).done) { /* keep the pipe drained */ }
  })();
  return child;
}

const started: Deno.ChildProcess[] = [];
try {
  started.push(
    await start(
      "redis-server",
      // Nothing kept on disk: no snapshot, no append-only file.
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      /Ready to accept connections/,
    ),
  );
  for (let i = 0; i < 2; i++) {
    started.push(
      await start(Deno.execPath(), [
        "run",
        "--allow-read",
        "--allow-net",
        "--allow-env",
        "--allow-sys",
        "serve.ts",
        "--redis",
        url,
        "--module",
        "examples/cluster_tasks.ts",
        "--workers",
        "1",
      ], /^ready/m),
    );
  }
  console.log(`redis-server on port ${port}, two nodes ready`);

  await using pool = new ClusterPool({ connection: url, root });
  const tasks = taskModule<typeof Tasks>(new URL("./cluster_tasks.ts", here));
  const perNode = new Map<number, number>();
  const begun = performance.now();
  let sum = 0;
  for await (const { value, node } of pool.map(tasks("fibOnNode"), Array(32).fill(27))) {
    sum += value;
    perNode.set(node, (perNode.get(node) ?? 0) + 1);
  }
  console.log(`32 × fib(27) = ${sum} in ${Math.round(performance.now() - begun)} ms`);
  for (const [node, count] of perNode) console.log(`node ${node} ran ${count}`);
} finally {
  // Nodes first (they finish what runs), then Redis.
  for (const child of started.reverse()) {
    child.kill("SIGTERM");
    await child.status;
  }
}
