import { equal, match, ok, rejects } from "node:assert/strict";
import { ClusterPool } from "../cluster.ts";
import {
  clusterTest,
  redisCli,
  redisInstalled,
  running,
  startNode,
  startRedis,
} from "./cluster_helpers.ts";
import { runDeno, task } from "./helpers.ts";

const root = new URL("../", import.meta.url);
const flags = ["--allow-read", "--allow-net", "--allow-env", "--allow-sys"];

/** The documented `ACL SETUSER` line for the default queue, its password `secret`, as arguments. */
async function documentedAclLine(): Promise<string[]> {
  const page = await Deno.readTextFile(new URL("../docs/cluster.md", import.meta.url));
  const line = page.split("\n").map((text) => text.trim())
    .find((text) => text.startsWith("ACL SETUSER threadpool "));
  ok(line, "docs/cluster.md gives an ACL SETUSER line");
  return line.replace(">PASSWORD", ">secret").split(" ");
}

clusterTest(
  "A least-privileged ACL user (the documented line) runs a node and a client, and cancels reach the node",
  async ({ redis }) => {
    equal(await redisCli(redis.port, ...await documentedAclLine()), "OK");
    const url = `redis://threadpool:secret@127.0.0.1:${redis.port}`;
    const node = await startNode(url);
    await using pool = new ClusterPool({ connection: url, root });
    const errors: string[] = [];
    pool.addEventListener("error", (event) => errors.push((event as ErrorEvent).message));
    equal(await pool.run(task("add"), [1, 2]), 3);
    // One worker: a cancel that did not reach it would keep it busy for a minute.
    const controller = new AbortController();
    const long = pool.run(task("delayed"), ["never", 60_000], { signal: controller.signal });
    await running(pool, 1);
    controller.abort();
    await rejects(long);
    equal(await pool.run(task("add"), [2, 2]), 4, "the node's worker was freed");
    equal(errors.length, 0, errors.join("\n"));
    equal((await node.stop()).code, 0);
  },
);

clusterTest(
  "A client whose ACL user may not publish cancels is told so when one is refused, and a node is refused at start",
  async ({ redis, node }) => {
    // Redis 7's default for a new user: no channels.
    const line = ["ACL", "SETUSER", "nochannels", "on", ">pw", "allkeys", "+@all"];
    equal(await redisCli(redis.port, ...line), "OK");
    const url = `redis://nochannels:pw@127.0.0.1:${redis.port}`;
    await node();
    await using pool = new ClusterPool({ connection: url, root });
    const refused = Promise.withResolvers<string>();
    pool.addEventListener("error", (event) => refused.resolve((event as ErrorEvent).message));
    equal(await pool.run(task("add"), [1, 2]), 3);
    const controller = new AbortController();
    const long = pool.run(task("delayed"), ["never", 2_000], { signal: controller.signal });
    await running(pool, 1);
    controller.abort();
    await rejects(long);
    match(
      await refused.promise,
      /^Redis refused to publish the cancel on channel threadpool:threadpool:cancel \(NOPERM/,
    );
    // A node as that user would never hear a cancel: it says why, and does not start.
    const { code, stderr } = await runDeno(
      [...flags, "serve.ts", "--redis", url, "--module", "tests/fixtures/"],
      { cwd: root, timeout: 20_000 },
    );
    equal(code, 1);
    match(stderr, /needs that channel \(&threadpool:threadpool:cancel\)/);
  },
);

Deno.test({
  name:
    "Mutual TLS: nodes and clients present certificates; one without says so, and nothing crashes",
  ignore: !redisInstalled && Deno.env.get("CI") !== "true",
  timeout: 60_000,
  async fn() {
    const redis = await startRedis(["--tls-auth-clients", "yes"], true);
    const { ca, client } = redis as Required<typeof redis>;
    try {
      const node = await startNode(
        redis.url,
        ["--tls-ca", ca, "--tls-cert", client.cert, "--tls-key", client.key],
      );
      await using pool = new ClusterPool({
        connection: {
          host: "127.0.0.1",
          port: redis.port,
          tls: {
            ca: await Deno.readTextFile(ca),
            cert: await Deno.readTextFile(client.cert),
            key: await Deno.readTextFile(client.key),
          },
        },
        root,
      });
      equal(await pool.run(task("add"), [2, 3]), 5);
      // Without a certificate: one clear error, and the process lives on.
      const script = new URL("./fixtures/scripts/cluster_no_client_cert.ts", import.meta.url);
      const { code, stdout, stderr } = await runDeno(
        [...flags, script.pathname, String(redis.port), ca],
        { timeout: 30_000 },
      );
      equal(code, 0, stderr);
      match(stdout, /^Redis refused: it requires a client certificate \(mutual TLS\).*\nalive\n$/);
      // A node without one says the same, and exits.
      const refused = await runDeno(
        [...flags, "serve.ts", "--redis", redis.url, "--tls-ca", ca, "--module", "tests/fixtures/"],
        { cwd: root, timeout: 20_000 },
      );
      equal(refused.code, 1);
      match(refused.stderr, /^serve\.ts: Redis refused: it requires a client certificate/);
      await node.stop();
    } finally {
      await redis.stop();
    }
  },
});
