import { deepEqual } from "node:assert/strict";

const src = new URL("../src/", import.meta.url);

/** Every module under src/, with the src/ modules it imports (static and type-only). */
async function graph(): Promise<Map<string, string[]>> {
  const modules = new Map<string, string[]>();
  const walk = async (dir: URL) => {
    for await (const entry of Deno.readDir(dir)) {
      const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
      if (entry.isDirectory) await walk(url);
      else if (entry.name.endsWith(".ts")) {
        const text = await Deno.readTextFile(url);
        const pattern = /^(?:(?:import|export)[^"';]*?from\s+|import\s+)["'](\.[^"']+)["']/gm;
        const imports = [...text.matchAll(pattern)]
          .map((match) => new URL(match[1]!, url).href)
          .filter((href) => href.startsWith(src.href));
        modules.set(url.href.slice(src.href.length), imports.map((h) => h.slice(src.href.length)));
      }
    }
  };
  await walk(src);
  return modules;
}

Deno.test("Nothing in the front's folders imports the Web Worker engine or the worker thread", async () => {
  const crossing: string[] = [];
  for (const [module, imports] of await graph()) {
    if (!module.startsWith("pool/") && !module.startsWith("core/")) continue;
    for (const target of imports) {
      if (target.startsWith("threads/") || target.startsWith("worker/")) {
        crossing.push(`${module} -> ${target}`);
      }
    }
  }
  deepEqual(crossing, []);
});

Deno.test("The worker thread's code imports only itself and the wire between the threads", async () => {
  const crossing: string[] = [];
  for (const [module, imports] of await graph()) {
    if (!module.startsWith("worker/") && !module.startsWith("wire/")) continue;
    for (const target of imports) {
      if (!target.startsWith("worker/") && !target.startsWith("wire/")) {
        crossing.push(`${module} -> ${target}`);
      }
    }
  }
  deepEqual(crossing, []);
});

Deno.test("No import cycle among the modules of src/", async () => {
  const modules = await graph();
  const cycles: string[] = [];
  const state = new Map<string, "open" | "done">();
  const visit = (module: string, path: string[]) => {
    if (state.get(module) === "done") return;
    if (state.get(module) === "open") {
      cycles.push([...path.slice(path.indexOf(module)), module].join(" -> "));
      return;
    }
    state.set(module, "open");
    for (const target of modules.get(module) ?? []) visit(target, [...path, module]);
    state.set(module, "done");
  };
  for (const module of modules.keys()) visit(module, []);
  deepEqual(cycles, []);
});

Deno.test("The core module and the task API load no npm package: only the cluster entry points do", async () => {
  const seen = new Set<string>();
  const npm: string[] = [];
  const visit = async (url: URL) => {
    if (seen.has(url.href)) return;
    seen.add(url.href);
    const text = await Deno.readTextFile(url);
    for (
      const match of text.matchAll(
        /^(?:(?:import|export)[^"';]*?from\s+|import\s+)["']([^"']+)["']/gm,
      )
    ) {
      const specifier = match[1]!;
      if (specifier.startsWith("npm:")) npm.push(`${url.pathname} -> ${specifier}`);
      else if (specifier.startsWith(".")) await visit(new URL(specifier, url));
    }
  };
  await visit(new URL("../mod.ts", import.meta.url));
  await visit(new URL("../task.ts", import.meta.url));
  deepEqual(npm, []);
});

Deno.test("The cluster's documentation builds without a warning: BullMQ and ioredis come in through one module, with declarations of their own", async () => {
  const root = new URL("../", import.meta.url);
  const { success, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "cluster.ts", "serve.ts"],
    cwd: root,
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const said = new TextDecoder().decode(stderr);
  deepEqual({ success, said }, { success: true, said: "" });
  const npm: string[] = [];
  for (const [module] of await graph()) {
    const text = await Deno.readTextFile(new URL(module, src));
    if (/^(?:import|export)[^"';]*?from\s+["']npm:/m.test(text)) npm.push(module);
  }
  deepEqual(npm, ["cluster/npm.ts"]);
});
