import { deepEqual, equal, throws } from "node:assert/strict";
import { resolveTask, taskModule } from "../src/core/task.ts";

Deno.test("resolveTask() accepts URLs and absolute URL strings, defaulting to the default export", () => {
  deepEqual(resolveTask({ module: new URL("file:///a/b.ts") }), {
    href: "file:///a/b.ts",
    name: "default",
    key: "default@file:///a/b.ts",
  });
  deepEqual(resolveTask({ module: "https://example.com/t.js", name: "f" }), {
    href: "https://example.com/t.js",
    name: "f",
    key: "f@https://example.com/t.js",
  });
  equal(resolveTask({ module: "data:text/javascript,export default 1" }).name, "default");
});

Deno.test("resolveTask() rejects relative modules, bad names and non-tasks with TypeError", () => {
  throws(
    () => resolveTask({ module: "./tasks.ts" }),
    /new URL\("\.\/tasks\.ts", import\.meta\.url\)/,
  );
  throws(() => resolveTask({ module: "/abs/path.ts" }), TypeError);
  throws(() => resolveTask({ module: 1 }), /must be a URL/);
  throws(() => resolveTask({ module: "file:///a.ts", name: 1 }), /must be a string/);
  throws(() => resolveTask(() => 1), /is \{ module: URL, name\?: string \}/);
  throws(() => resolveTask(undefined), TypeError);
});

Deno.test("taskModule() makes specs for a module's exports", () => {
  const url = new URL("file:///tasks.ts");
  const spec = taskModule<{ add(a: number, b: number): number }>(url)("add");
  deepEqual(spec, { module: url, name: "add" });
});
