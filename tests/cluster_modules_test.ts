import { equal } from "node:assert/strict";
import { folderURL, local, portable } from "../src/cluster/modules.ts";

Deno.test("A root with a space, # or % in its path still names the folder, both ways", () => {
  const root = folderURL("/srv/jobs #2 (100%)", "test");
  equal(root.href, "file:///srv/jobs%20%232%20(100%25)/");
  const module = new URL("tasks/a b.ts", root).href;
  equal(portable(module, root), "tasks/a b.ts");
  equal(local("tasks/a b.ts", root), module);
});
