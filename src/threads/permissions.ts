/**
 * Main thread, the Web Worker engine: what the workers may do: the user's grant, plus read access to each task
 * module the workers must import. Deno checks a worker's computed
 * `import(taskUrl)` against the worker's own permissions, so a `"none"`
 * worker could otherwise not load a single task. A grant is fixed when a
 * thread starts: when a task names a module the pool has not granted yet, the
 * grant grows, and threads started before are replaced once idle.
 *
 * @module
 */

import type { ResolvedTask } from "../core/task.ts";
import { UnstableFlagError } from "../core/errors.ts";
import { filePath } from "./paths.ts";
import { workerOptionsEnabled } from "./unstable_flag.ts";

const NAMES = ["env", "ffi", "import", "net", "read", "run", "sys", "write"] as const;
type Name = typeof NAMES[number];
type Grant = "inherit" | boolean | Array<string | URL>;

/** Which permission descriptor asks about one item of a grant list. */
const ITEM: Record<Name, (item: string) => Deno.PermissionDescriptor> = {
  env: (variable) => ({ name: "env", variable }),
  ffi: (path) => ({ name: "ffi", path }),
  import: (host) => ({ name: "import", host }),
  net: (host) => ({ name: "net", host }),
  read: (path) => ({ name: "read", path }),
  run: (command) => ({ name: "run", command }),
  sys: (kind) => ({ name: "sys", kind: kind as NonNullable<Deno.SysPermissionDescriptor["kind"]> }),
  write: (path) => ({ name: "write", path }),
};

/**
 * Checks the `permissions` option and returns the grant the workers start
 * from, or null for `"inherit"` (no option is passed to Deno at all, so no
 * unstable flag is needed).
 *
 * @throws {TypeError} When the option is malformed, or when Deno does not run
 * with `--unstable-worker-options` (or the pool cannot tell that it does).
 * @throws {Deno.errors.NotCapable} When it grants what this process does not have.
 */
export function checkPermissions(
  value: Deno.PermissionOptions | undefined,
  assumeEnabled: boolean,
): WorkerGrant | null {
  const action = "create the pool";
  if (value === undefined || value === "inherit") return null;
  let base: Partial<Record<Name, Grant>> = {};
  if (value !== "none") {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new TypeError(
        `Cannot ${action} as 'permissions' must be "inherit", "none" or an object: current value is ${
          Deno.inspect(value)
        }`,
      );
    }
    base = { ...value } as Partial<Record<Name, Grant>>;
    for (const [name, grant] of Object.entries(base)) checkGrant(action, name, grant);
  }
  if (!assumeEnabled) {
    const { enabled, how } = workerOptionsEnabled();
    if (enabled !== true) throw new UnstableFlagError(enabled, how);
  }
  return new WorkerGrant(base);
}

function checkGrant(action: string, name: string, grant: unknown): void {
  if (!(NAMES as readonly string[]).includes(name)) {
    throw new TypeError(
      `Cannot ${action} as 'permissions.${name}' is not a permission: expected one of ${
        NAMES.join(", ")
      }`,
    );
  }
  const list = Array.isArray(grant) &&
    grant.every((item) => typeof item === "string" || item instanceof URL);
  if (grant !== "inherit" && typeof grant !== "boolean" && !list) {
    throw new TypeError(
      `Cannot ${action} as 'permissions.${name}' must be "inherit", a boolean or a list: current value is ${
        Deno.inspect(grant)
      }`,
    );
  }
  // Deno throws this from `new Worker`; checked here, it is thrown at the call that caused it.
  const wanted = grant === true
    ? [{ name } as Deno.PermissionDescriptor]
    : list
    ? (grant as Array<string | URL>).map((item) => ITEM[name as Name](pathOrString(item)))
    : [];
  for (const descriptor of wanted) {
    if (Deno.permissions.querySync(descriptor).state !== "granted") {
      throw new Deno.errors.NotCapable(
        `Cannot ${action} as 'permissions.${name}' grants ${
          Deno.inspect(grant)
        }, which this process does not have: a worker cannot have more than its parent`,
      );
    }
  }
}

/** The grant the pool's threads start with, and how it grows. */
export class WorkerGrant {
  readonly #base: Partial<Record<Name, Grant>>;
  readonly #reads = new Set<string>();
  readonly #hosts = new Set<string>();
  readonly #known = new Set<string>(); // module URLs admitted
  #version = 0;
  #current: Deno.PermissionOptionsObject | undefined;

  /** Starts from the user's grant; `{}` is `"none"`. */
  constructor(base: Partial<Record<Name, Grant>>) {
    this.#base = base;
  }

  /** Grows with every module granted: a thread started at an older version lacks one. */
  get version(): number {
    return this.#version;
  }

  /**
   * Makes sure the workers may import `task`'s module.
   *
   * @throws {Deno.errors.NotCapable} When this process may not read it either.
   */
  admit(task: ResolvedTask): void {
    const { href } = task;
    if (this.#known.has(href)) return; // the hot path: a module seen before
    const url = new URL(href);
    if (url.protocol === "file:" && !covers(this.#base.read)) {
      const path = filePath(url);
      if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") {
        throw new Deno.errors.NotCapable(
          `Cannot grant the workers read access to task module ${path}: this process does not have it`,
        );
      }
      this.#reads.add(path);
      this.#grow();
    } else if (
      (url.protocol === "http:" || url.protocol === "https:") && !covers(this.#base.import)
    ) {
      if (!this.#hosts.has(url.host)) {
        this.#hosts.add(url.host);
        this.#grow();
      }
    }
    this.#known.add(href);
  }

  /** What a thread started now is given. */
  options(): Deno.PermissionOptionsObject {
    if (this.#current !== undefined) return this.#current;
    const grant = { ...this.#base } as Record<string, Grant>;
    const read = extend(grant.read, [...this.#reads]);
    const hosts = extend(grant.import, [...this.#hosts]);
    if (read !== undefined) grant.read = read;
    if (hosts !== undefined) grant.import = hosts;
    return this.#current = grant as Deno.PermissionOptionsObject;
  }

  #grow(): void {
    this.#version++;
    this.#current = undefined;
  }
}

/**
 * Whether a grant already covers whatever a module needs: `true`, or
 * `"inherit"` (this process's own, which `admit` checks against anyway).
 */
function covers(grant: Grant | undefined): boolean {
  return grant === true || grant === "inherit";
}

/** A grant with `items` added, unless it covers them already. */
function extend(grant: Grant | undefined, items: string[]): Grant | undefined {
  if (items.length === 0 || covers(grant)) return grant;
  return [...(Array.isArray(grant) ? grant : []), ...items];
}

function pathOrString(item: string | URL): string {
  return item instanceof URL ? (item.protocol === "file:" ? filePath(item) : item.href) : item;
}
