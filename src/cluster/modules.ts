/**
 * Both ends of the cluster: task modules by names that mean the same on
 * every machine. A file under the client's `root` travels as its path
 * relative to `root`, and a node resolves it against its own `root` (the
 * same code checked out on every machine); `https:`, `jsr:` and `npm:`
 * specifiers travel as they are. A node runs only the modules its
 * allowlist names.
 *
 * @module
 */

import { quote } from "../pool/validate.ts";

const REMOTE = new Set(["https:", "http:", "jsr:", "npm:"]);

/** A path (absolute, or relative to the working directory) as a `file:` URL, characters escaped. */
function fileURL(path: string): URL {
  const url = new URL("file:///");
  // The setter escapes spaces, "#" and "?", but not "%": escaped first.
  url.pathname = (path.startsWith("/") ? path : `${Deno.cwd()}/${path}`).replaceAll("%", "%25");
  return url;
}

/** A folder as a `file:` URL ending in a slash: `root` as a path or URL. */
export function folderURL(root: string | URL | undefined, action: string): URL {
  if (root === undefined) return fileURL(`${Deno.cwd()}/`);
  let url: URL;
  if (root instanceof URL) url = root;
  else if (typeof root === "string" && URL.canParse(root) && root.startsWith("file:")) {
    url = new URL(root);
  } else if (typeof root === "string") {
    url = fileURL(root);
  } else {
    throw new TypeError(
      `Cannot ${action} as 'root' must be a path or a file: URL: current value is ${
        Deno.inspect(root)
      }`,
    );
  }
  if (url.protocol !== "file:") {
    throw new TypeError(`Cannot ${action} as 'root' must be a folder on this machine: ${url.href}`);
  }
  return url.href.endsWith("/") ? url : new URL(`${url.href}/`);
}

/**
 * The name a task module travels under.
 *
 * @throws {TypeError} When it is a local module outside `root`.
 */
export function portable(href: string, root: URL): string {
  const url = new URL(href);
  if (REMOTE.has(url.protocol)) return href;
  if (url.protocol === "file:" && url.href.startsWith(root.href)) {
    return decodeURIComponent(url.href.slice(root.href.length));
  }
  throw new TypeError(
    `Cannot send task module ${href} to the cluster: it is not under 'root' (${root.href}), ` +
      "and a node resolves local modules against its own root; move it there, or set 'root'",
  );
}

/** The module a portable name means on this node. */
export function local(name: string, root: URL): string {
  if (URL.canParse(name) && REMOTE.has(new URL(name).protocol)) return name;
  const url = new URL(name.split("/").map(encodeURIComponent).join("/"), root);
  return url.href.startsWith(root.href) ? url.href : "";
}

/** The modules a node may run: files, and every module under folders. */
export class Allowlist {
  readonly #files = new Set<string>();
  readonly #folders: string[] = [];

  /**
   * Allows each of `entries`: a file or folder path (relative to the working directory), a
   * `file:` URL, or a remote specifier.
   *
   * @throws {TypeError} When an entry is none of those.
   * @throws {Deno.errors.NotFound} When a local entry names no file or folder: a typo would
   * otherwise make a node that refuses every request.
   */
  constructor(entries: readonly (string | URL)[], action: string) {
    entries.forEach((entry, i) => {
      if (typeof entry !== "string" && !(entry instanceof URL)) {
        throw new TypeError(
          `Cannot ${action} as 'modules[${i}]' must be a path, a file: URL or a remote ` +
            `specifier: current value is ${quote(entry)}`,
        );
      }
      const text = entry instanceof URL ? entry.href : entry;
      if (URL.canParse(text) && REMOTE.has(new URL(text).protocol)) {
        this.#files.add(text);
        return;
      }
      const url = entry instanceof URL ? entry : fileURL(text);
      let folder: boolean;
      try {
        folder = Deno.statSync(url).isDirectory;
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
        throw new Deno.errors.NotFound(
          `Cannot ${action} as 'modules[${i}]' names no file or folder: current value is ` +
            `${quote(entry)} (${url.href})`,
        );
      }
      if (folder) this.#folders.push(url.href.endsWith("/") ? url.href : `${url.href}/`);
      else this.#files.add(url.href);
    });
  }

  /** The files and folders allowed, for a message (at most a few). */
  describe(): string {
    const all = [...this.#files, ...this.#folders];
    const shown = all.slice(0, 4).join(", ");
    return all.length > 4 ? `${shown} and ${all.length - 4} more` : shown;
  }

  /**
   * The root under which `path` (as a client sent it) would name a module
   * this list allows, if there is one: what the node's root should likely be.
   */
  rootFor(path: string): string | undefined {
    const tail = `/${path.split("/").map(encodeURIComponent).join("/")}`;
    for (const file of this.#files) {
      if (file.endsWith(tail)) return file.slice(0, -tail.length + 1);
    }
    for (const folder of this.#folders) {
      const parts = path.split("/");
      // A folder allowed whose own path ends where the client's path begins.
      for (let i = 1; i < parts.length; i++) {
        const head = `/${parts.slice(0, i).map(encodeURIComponent).join("/")}/`;
        if (folder.endsWith(head)) return folder.slice(0, -head.length + 1);
      }
    }
    return undefined;
  }

  /** Whether a module may run here. */
  allows(href: string): boolean {
    return href !== "" &&
      (this.#files.has(href) || this.#folders.some((folder) => href.startsWith(folder)));
  }
}

/**
 * Why a node refuses a task module: the path the client sent, what it
 * resolved to against the node's root, what the allowlist holds, and the
 * root under which that path would have been allowed, if any.
 */
export function refusalOf(path: string, module: string, root: URL, allowed: Allowlist): string {
  const resolved = module === ""
    ? `it resolves outside the node's root (${root.href})`
    : `resolved against the node's root (${root.href}) it is ${module}`;
  const better = allowed.rootFor(path);
  const hint = better === undefined
    ? ""
    : `; with the node's root at ${better} (serve.ts --root, serve()'s 'root'), it would be`;
  return `This node does not run task module "${path}": ${resolved}, which is not in its ` +
    `'modules' allowlist (${allowed.describe()})${hint}`;
}
