import { deepEqual, ok } from "node:assert/strict";

const root = new URL("../", import.meta.url);

/** The README and every page of docs/, by path from the repository's root. */
async function pages(): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  found.set("README.md", await Deno.readTextFile(new URL("README.md", root)));
  for await (const entry of Deno.readDir(new URL("docs/", root))) {
    if (entry.isFile && entry.name.endsWith(".md")) {
      found.set(`docs/${entry.name}`, await Deno.readTextFile(new URL(`docs/${entry.name}`, root)));
    }
  }
  return found;
}

/** The code blocks of a page: their opening line's words, and their text. */
function codeBlocks(text: string): { info: string[]; code: string }[] {
  return [...text.matchAll(/^```([^\n]*)\n([\s\S]*?)^```$/gm)].map(([, info, code]) => ({
    info: info!.trim().split(/\s+/),
    code: code!,
  }));
}

Deno.test("The README is the page read first: short, and its first screen gets a user with only Node and npm running", async () => {
  const readme = (await pages()).get("README.md")!;
  const lines = readme.split("\n");
  ok(lines.length <= 300, `the README has ${lines.length} lines`);
  const firstScreen = lines.slice(0, 25).join("\n");
  ok(firstScreen.includes("npx -y deno@2.9.6 run --allow-read examples/quick_start.ts"));
  // The test command there is the one CI runs.
  const ci = await Deno.readTextFile(new URL(".ci/run", root));
  const command = /^npx -y "deno@\$DENO_VERSION" (test [^|]+?) 2>&1/m.exec(ci)?.[1];
  ok(command, "CI runs a test command");
  ok(firstScreen.includes(`npx -y deno@2.9.6 ${command}\n`), "the README's test command is CI's");
});

Deno.test("Every TypeScript block of the README and docs/ is run by the tests, or quotes an example verbatim", async () => {
  const examples: string[] = [];
  for await (const entry of Deno.readDir(new URL("examples/", root))) {
    examples.push(await Deno.readTextFile(new URL(`examples/${entry.name}`, root)));
  }
  let run = 0;
  for (const [page, text] of await pages()) {
    for (const { info, code } of codeBlocks(text)) {
      if (!["ts", "typescript"].includes(info[0]!)) continue;
      // `deno test --doc` runs the others.
      if (!info.includes("ignore")) {
        run++;
        continue;
      }
      ok(
        examples.some((example) => example.includes(code)),
        `${page}: a block the tests do not run, and no example holds:\n${code}`,
      );
    }
  }
  ok(run >= 5, `only ${run} blocks are run`);
});

Deno.test("Every relative link of the README and docs/ leads to a file, and the README links every page of docs/", async () => {
  const all = await pages();
  for (const [page, text] of all) {
    for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue;
      const url = new URL(target!, new URL(page, root));
      const found = await Deno.stat(url).then(() => true, () => false);
      ok(found, `${page} links ${target}, which is not there`);
    }
  }
  const linked = [...all.get("README.md")!.matchAll(/\]\((docs\/[^)#]+)\)/g)].map(([, path]) =>
    path
  );
  deepEqual(
    [...all.keys()].filter((page) => page !== "README.md").toSorted(),
    [...new Set(linked)].toSorted(),
  );
});
