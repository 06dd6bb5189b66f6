import { equal } from "node:assert/strict";
import { folderURL, local, portable } from "../src/cluster/modules.ts";

Deno.test("A root with a space, # or % in its path still names the folder, both ways", () => {
  const root = folderURL("/srv/jobs #2 (100%)", "test");
  equal(root.href, "file:///srv/jobs%20%232%20(100%25)/");
  const module = new URL("tasks/a b.ts", root).href;
  equal(portable(module, root), "tasks/a b.ts");
  equal(local("tasks/a b.ts", root), module);
});

Deno.test("Remote specifiers travel as they are; a path that climbs out of root names nothing", () => {
  const root = folderURL("/srv/jobs", "test");
  for (const specifier of ["https://example.com/tasks.ts", "jsr:@scope/tasks", "npm:tasks@1"]) {
    equal(portable(specifier, root), specifier);
    equal(local(specifier, root), specifier);
  }
  equal(local("../etc/tasks.ts", root), "");
  equal(local("tasks/../../etc/tasks.ts", root), "");
});
