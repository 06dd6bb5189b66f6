/**
 * For the cluster tests: a private `redis-server` on a free port, and nodes
 * (`serve.ts`) as real processes. In CI (CI=true) a missing redis-server
 * fails the cluster tests; elsewhere they are skipped, with one line saying
 * how to install it.
 */
import { ClusterPool, type ClusterPoolOptions } from "../cluster.ts";

const root = new URL("../", import.meta.url);

/** Whether `redis-server` can be run here. */
export const redisInstalled: boolean = (() => {
  try {
    return new Deno.Command("redis-server", { args: ["--version"], stdout: "null" }).outputSync()
      .success;
  } catch {
    return false;
  }
})();

const inCI = Deno.env.get("CI") === "true";
if (!redisInstalled && !inCI) {
  console.error("cluster tests skipped: no redis-server (apt-get install -y redis-server)");
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Reads a process's output line by line until one matches; resolves with it. */
export async function lineMatching(
  stream: ReadableStream<Uint8Array>,
  pattern: RegExp,
  seen: string[],
): Promise<string> {
  const lines = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  for (;;) {
    const { value, done } = await lines.read();
    if (done) throw new Error(`the process ended before printing ${pattern}:\n${seen.join("\n")}`);
    buffered += value;
    const parts = buffered.split("\n");
    buffered = parts.pop()!;
    for (const line of parts) {
      seen.push(line);
      if (pattern.test(line)) {
        // Keep draining, so the process never blocks on a full pipe.
        (async () => {
          while (!(await lines.read()).done) { /* drained */ }
        })().catch(() => {});
        return line;
      }
    }
  }
}

/** Keeps every line of `stream` in `into`, so that a process never blocks on a full pipe. */
async function collect(stream: ReadableStream<Uint8Array>, into: string[]): Promise<void> {
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    into.push(...chunk.split("\n").filter((line) => line !== ""));
  }
}

/** A private Redis server. */
export interface Redis {
  url: string;
  port: number;
  /** With TLS: the file of the certificate authority that signed its certificate. */
  ca?: string;
  /** With TLS: a client certificate that authority signed, and its key, for mutual TLS. */
  client?: { cert: string; key: string };
  /**
   * Stops it and starts it again, on the same port: by default with SIGTERM
   * (with `--appendonly yes` it keeps its data); with SIGKILL, and without
   * persistence, it comes back empty.
   */
  restart(signal?: Deno.Signal): Promise<void>;
  /** Sends the server `signal` (SIGSTOP freezes it, SIGCONT thaws it). */
  kill(signal: Deno.Signal): void;
  /** Stops it and removes its folder; again, the same. */
  stop(): Promise<void>;
}

/**
 * Starts `redis-server` on a free port with a temporary folder, once it
 * accepts connections; with `tls`, it takes only TLS connections, with a
 * certificate for 127.0.0.1 signed by a certificate authority made for it
 * (which also signs a client certificate; `--tls-auth-clients yes` in
 * `extra` requires one).
 */
export async function startRedis(extra: string[] = [], tls = false): Promise<Redis> {
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "threadpool-redis-" });
  const args = ["--bind", "127.0.0.1", "--save", "", "--dir", dir];
  if (!extra.includes("--appendonly")) args.push("--appendonly", "no");
  if (tls) {
    await certificates(dir);
    args.push("--port", "0", "--tls-port", String(port), "--tls-auth-clients", "no");
    args.push("--tls-cert-file", `${dir}/server.pem`, "--tls-key-file", `${dir}/server.key`);
    args.push("--tls-ca-cert-file", `${dir}/ca.pem`);
  } else {
    args.push("--port", String(port));
  }
  const launch = async () => {
    const child = new Deno.Command("redis-server", {
      args: [...args, ...extra],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    await lineMatching(child.stdout, /Ready to accept connections/, []);
    return child;
  };
  let child = await launch();
  let stopping: Promise<void> | null = null;
  return {
    url: `${tls ? "rediss" : "redis"}://127.0.0.1:${port}`,
    port,
    ...(tls && {
      ca: `${dir}/ca.pem`,
      client: { cert: `${dir}/client.pem`, key: `${dir}/client.key` },
    }),
    async restart(signal: Deno.Signal = "SIGTERM") {
      child.kill(signal);
      await child.status;
      child = await launch();
    },
    kill(signal: Deno.Signal) {
      child.kill(signal);
    },
    stop() {
      stopping ??= (async () => {
        child.kill("SIGTERM");
        await child.status;
        await Deno.remove(dir, { recursive: true });
      })();
      return stopping;
    },
  };
}

/**
 * Makes, in `dir`, a certificate authority (ca.pem), a certificate for
 * 127.0.0.1 it signed (server.pem), and a client certificate it signed (client.pem).
 */
async function certificates(dir: string): Promise<void> {
  const steps = [
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test CA"]
      .concat(["-keyout", "ca.key", "-out", "ca.pem"]),
    ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1"]
      .concat(["-keyout", "server.key", "-out", "server.csr"]),
    ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"]
      .concat(["-days", "1", "-out", "server.pem", "-extfile", "san.cnf"]),
    ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=threadpool client"]
      .concat(["-keyout", "client.key", "-out", "client.csr"]),
    ["x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"]
      .concat(["-days", "1", "-out", "client.pem"]),
  ];
  await Deno.writeTextFile(`${dir}/san.cnf`, "subjectAltName=IP:127.0.0.1\n");
  for (const args of steps) {
    const { success, stderr } = await new Deno.Command("openssl", {
      args,
      cwd: dir,
      stdout: "null",
    })
      .output();
    if (!success) throw new Error(`openssl ${args[0]}: ${new TextDecoder().decode(stderr)}`);
  }
}

/** A node: `serve.ts` in its own process. */
export interface Node {
  /** Its process id. */
  pid: number;
  /** What it printed, line by line. */
  output: string[];
  /**
   * Sends it `signal` and resolves with its exit status; rejects, with what
   * it printed to stderr, if it has not exited 20 s later (it is then killed).
   */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

/** Starts a node serving `modules` (by default `tests/fixtures/`), once it says it is ready. */
export async function startNode(
  url: string,
  extra: string[] = [],
  modules = "tests/fixtures/",
  env: Record<string, string> = {},
): Promise<Node> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-net",
      "--allow-env",
      "--allow-sys",
      "serve.ts",
      "--redis",
      url,
      "--module",
      modules,
      "--workers",
      "1",
      ...extra,
    ],
    cwd: root,
    env,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output: string[] = [];
  const errors: string[] = [];
  collect(child.stderr, errors);
  await lineMatching(child.stdout, /^ready/, output).catch((error) => {
    throw new Error(`${error.message}\n${errors.join("\n")}`);
  });
  let status: Promise<Deno.CommandStatus> | null = null;
  return {
    pid: child.pid,
    output,
    stop(signal: Deno.Signal = "SIGTERM") {
      if (status === null) {
        child.kill(signal);
        // A node that does not stop fails the test with what it said, instead of hanging it.
        let timer: ReturnType<typeof setTimeout> | undefined;
        const late = new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            child.kill("SIGKILL");
            reject(
              new Error(`node ${child.pid} ignored ${signal} for 20 s:\n${errors.join("\n")}`),
            );
          }, 20_000);
        });
        status = Promise.race([child.status, late]).finally(() => clearTimeout(timer));
      }
      return status;
    },
  };
}

/** What a cluster test's body is given. */
export interface ClusterContext {
  redis: Redis;
  pool: ClusterPool;
  /** Starts a node (stopped when the test ends). */
  node(extra?: string[]): Promise<Node>;
}

/**
 * Registers a cluster test: a private Redis, a client of it (closed at the
 * end), and whatever nodes the body starts (stopped at the end).
 */
export function clusterTest(
  name: string,
  body: (context: ClusterContext) => Promise<void>,
  options: Partial<ClusterPoolOptions> = {},
  redisArgs: string[] = [],
): void {
  Deno.test({
    name,
    ignore: !redisInstalled && !inCI,
    timeout: 60_000,
    async fn() {
      if (!redisInstalled) {
        throw new Error("CI needs redis-server: apt-get install -y redis-server");
      }
      const redis = await startRedis(redisArgs);
      const nodes: Node[] = [];
      const pool = new ClusterPool({ connection: redis.url, root, ...options });
      let failed = true;
      try {
        await body({
          redis,
          pool,
          node: async (extra) => {
            const node = await startNode(redis.url, extra);
            nodes.push(node);
            return node;
          },
        });
        failed = false;
      } finally {
        await pool.close({ force: failed });
        for (const node of nodes) await node.stop();
        await redis.stop();
      }
    },
  });
}

/** Runs one redis-cli command against the Redis on `port` and returns its output. */
export async function redisCli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await new Deno.Command("redis-cli", { args: ["-p", String(port), ...args] })
    .output();
  return new TextDecoder().decode(stdout).trim();
}

/**
 * How many jobs wait in the default queue, asked of Redis itself: every
 * job has a priority, so they wait in BullMQ's set of prioritized jobs (and
 * any without one in its list).
 */
export async function waitingIn(port: number): Promise<number> {
  const script = "return redis.call('LLEN', KEYS[1]) + redis.call('ZCARD', KEYS[2])";
  return Number(
    await redisCli(
      port,
      "EVAL",
      script,
      "2",
      "bull:threadpool:wait",
      "bull:threadpool:prioritized",
    ),
  );
}

/** Resolves once `pool` has `n` requests running on nodes. */
export async function running(pool: ClusterPool, n: number): Promise<void> {
  // The client hears of each start from its nodes; stats() is all there is to ask.
  while (pool.stats().running < n) await new Promise((resolve) => setTimeout(resolve, 20));
}

/** Resolves once `check` holds, asking every 20 ms; fails, saying `what`, after 30 s. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  what: string,
): Promise<void> {
  const until = Date.now() + 30_000;
  while (!await check()) {
    if (Date.now() > until) throw new Error(`Not within 30 s: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** How many entries of the sorted set `key` are scored at or after Redis's clock (ms). */
export async function presentIn(port: number, key: string): Promise<number> {
  const script = "local t = redis.call('TIME') " +
    "return redis.call('ZCOUNT', KEYS[1], t[1] * 1000 + math.floor(t[2] / 1000), '+inf')";
  return Number(await redisCli(port, "EVAL", script, "1", key));
}
