/**
 * Main thread, the Web Worker engine: the little path arithmetic that
 * finding a deno.json and granting file access needs, in this system's form
 * (no path library: the module has no dependencies).
 *
 * @module
 */

/** Whether `path` is a file that can be stat-ed. */
export function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

const SEP = Deno.build.os === "windows" ? "\\" : "/";

/** The folder of `path`. */
export function dirname(path: string): string {
  const cut = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  return cut <= 0 ? path.slice(0, cut + 1) || SEP : path.slice(0, cut);
}

/** The folder above `dir`, or undefined at the root. */
export function parent(dir: string): string | undefined {
  const up = dirname(dir);
  return up === dir ? undefined : up;
}

/** `name` inside `dir`. */
export function join(dir: string, name: string): string {
  return dir.endsWith("/") || dir.endsWith("\\") ? dir + name : dir + SEP + name;
}

/** `path` made absolute against `cwd`. */
export function resolve(cwd: string, path: string): string {
  return path.startsWith("/") || /^[a-z]:[\\/]/i.test(path) ? path : join(cwd, path);
}

/** The path of a `file:` URL, in this system's form. */
export function filePath(url: URL): string {
  const path = decodeURIComponent(url.pathname);
  return Deno.build.os === "windows" ? path.slice(1).replaceAll("/", "\\") : path;
}
