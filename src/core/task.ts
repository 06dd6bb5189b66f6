/**
 * Main thread, shared by the front and every engine: how a task is named. A worker cannot receive a function, so a task is the
 * URL of a module and the name of one of its exports; the worker imports the
 * module once and calls the export.
 *
 * @module
 */

/**
 * Any function a task module may export.
 *
 * @example Any exported function is one
 * ```ts
 * import type { TaskFunction } from "@scope/threadpool";
 * import { equal } from "node:assert/strict";
 *
 * const add: TaskFunction = (a: number, b: number) => a + b;
 * equal(add(1, 2), 3);
 * ```
 */
// deno-lint-ignore no-explicit-any
export type TaskFunction = (...args: any[]) => unknown;

/**
 * Names a task: an exported function of a module, by the module's absolute
 * URL and the export's name. The type parameter, when given (see
 * {@linkcode taskModule}), makes {@linkcode ThreadPool.run} check the
 * arguments and the result type at compile time.
 *
 * @typeParam F The task function's type.
 *
 * @example A spec by module URL and export name
 * ```ts
 * import { type TaskSpec, ThreadPool } from "@scope/threadpool";
 * import { equal } from "node:assert/strict";
 *
 * const source = "export function add(a, b) { return a + b; }";
 * const module = `data:text/javascript,${encodeURIComponent(source)}`;
 *
 * const add: TaskSpec = { module, name: "add" };
 * await using pool = new ThreadPool(1);
 * equal(await pool.run(add, [2, 3]), 5);
 * ```
 */
export interface TaskSpec<F extends TaskFunction = TaskFunction> {
  /** The module's absolute URL: `new URL("./tasks.ts", import.meta.url)`. */
  readonly module: string | URL;
  /**
   * The export to call.
   *
   * @default {"default"}
   */
  readonly name?: string;
  /**
   * Carries the function's type at compile time only: it is never set.
   * @ignore
   */
  readonly "~task"?: F;
}

/**
 * The arguments a task takes.
 *
 * @example The argument list of a typed task
 * ```ts
 * import type { TaskArgs, TaskSpec } from "@scope/threadpool";
 * import { deepEqual } from "node:assert/strict";
 *
 * type Add = TaskSpec<(a: number, b: number) => number>;
 * const args: TaskArgs<Add> = [1, 2];
 * deepEqual(args, [1, 2]);
 * ```
 */
export type TaskArgs<T> = T extends TaskSpec<infer F> ? Parameters<F> : never;

/**
 * One input of `ThreadPool.map()` for a task: its argument list (a tuple, or
 * an array of its argument types), or, for a task that takes one argument
 * that is not an array, that argument alone (an array input is always spread
 * as the argument list). Any input, for a task whose type is not known.
 *
 * @example Inputs of a typed task
 * ```ts
 * import type { MapInput, TaskSpec } from "@scope/threadpool";
 * import { deepEqual } from "node:assert/strict";
 *
 * type CountPrimes = TaskSpec<(limit: number) => number>;
 * const inputs: MapInput<CountPrimes>[] = [10, [100]]; // "ten" would not compile
 * deepEqual(inputs, [10, [100]]);
 * ```
 */
export type MapInput<T> = T extends TaskSpec<infer F> ? unknown[] extends Parameters<F> ? unknown
  :
    | Parameters<F>
    | Array<Parameters<F>[number]>
    | (
      // The one argument of a list whose others are optional, unless it is an array.
      Parameters<F> extends [infer A, ...infer Rest]
        ? [] extends Rest ? A extends readonly unknown[] ? never : A : never
        : never
    )
  : never;

/**
 * What a stream of a task yields: the values of the generator, iterable or
 * `ReadableStream` the task returns (or resolves to).
 *
 * @example The values of a generator task
 * ```ts
 * import type { TaskSpec, TaskYield } from "@scope/threadpool";
 * import { equal } from "node:assert/strict";
 *
 * type Lines = TaskSpec<(text: string) => Generator<string>>;
 * const line: TaskYield<Lines> = "a string, as stream() gives";
 * equal(typeof line, "string");
 * ```
 */
export type TaskYield<T> = T extends TaskSpec<infer F>
  ? Awaited<ReturnType<F>> extends ReadableStream<infer Y> ? Y
  : Awaited<ReturnType<F>> extends AsyncIterable<infer Y> ? Y
  : Awaited<ReturnType<F>> extends Iterable<infer Y> ? Y
  : unknown
  : never;

/**
 * What a task resolves to on the calling thread.
 *
 * @example A promise's value, not the promise
 * ```ts
 * import type { TaskResult, TaskSpec } from "@scope/threadpool";
 * import { equal } from "node:assert/strict";
 *
 * type Fetch = TaskSpec<(url: string) => Promise<string>>;
 * const text: TaskResult<Fetch> = "a string, as run() resolves to";
 * equal(typeof text, "string");
 * ```
 */
export type TaskResult<T> = T extends TaskSpec<infer F> ? Awaited<ReturnType<F>> : never;

/**
 * The names of a module's exports that are functions.
 *
 * @example Only the functions of a module
 * ```ts
 * import type { FunctionExports } from "@scope/threadpool";
 * import { equal } from "node:assert/strict";
 *
 * const tasks = { add: (a: number, b: number) => a + b, version: "1.0" };
 * const name: FunctionExports<typeof tasks> = "add"; // "version" would not compile
 * equal(name, "add");
 * ```
 */
export type FunctionExports<M> =
  & {
    [K in keyof M]: M[K] extends TaskFunction ? K : never;
  }[keyof M]
  & string;

/**
 * The typed task specs of one module's exported functions, by name: what
 * {@linkcode taskModule} returns.
 *
 * @typeParam M The module's type: `typeof import("./tasks.ts")`.
 *
 * @example A spec per export
 * ```ts
 * import { type TaskModule, taskModule } from "@scope/threadpool";
 * import { equal } from "node:assert/strict";
 *
 * type Tasks = { add(a: number, b: number): number };
 * const tasks: TaskModule<Tasks> = taskModule<Tasks>("file:///app/tasks.ts");
 * equal(tasks("add").name, "add");
 * ```
 */
export interface TaskModule<M> {
  /**
   * The spec of the exported function `name`, typed with its signature.
   *
   * @typeParam K The export's name.
   * @param name The export's name.
   * @returns Its spec.
   */
  <K extends FunctionExports<M>>(name: K): TaskSpec<Extract<M[K], TaskFunction>>;
}

/**
 * Makes typed task specs for the exports of one module.
 *
 * @typeParam M The module's type: `typeof import("./tasks.ts")`.
 * @param module The module's absolute URL.
 * @returns A function that takes an export's name and returns its spec.
 * @throws {TypeError} When `module` is not a URL or an absolute URL string.
 *
 * @example Typed tasks
 * ```ts
 * import { taskModule, ThreadPool } from "@scope/threadpool";
 * import { equal } from "node:assert/strict";
 *
 * // In an application: taskModule<typeof import("./tasks.ts")>(new URL("./tasks.ts", import.meta.url))
 * type Tasks = { add(a: number, b: number): number };
 * const source = "export function add(a, b) { return a + b; }";
 * const tasks = taskModule<Tasks>(`data:text/javascript,${encodeURIComponent(source)}`);
 *
 * await using pool = new ThreadPool(1);
 * const sum: number = await pool.run(tasks("add"), [1, 2]);
 * equal(sum, 3);
 * ```
 */
export function taskModule<M>(module: string | URL): TaskModule<M> {
  resolveTask({ module }); // a bad module is refused here, not at the first run
  return (name) => ({ module, name });
}

/** A task spec checked and reduced to what is sent to a worker. */
export interface ResolvedTask {
  /** The module's absolute URL, as text. */
  readonly href: string;
  /** The export's name. */
  readonly name: string;
  /** Both, as one key: what a worker's function table is indexed by. */
  readonly key: string;
}

/** Canonical resolved tasks by module (a URL object, or its text) and name. */
const resolvedByURL = new WeakMap<URL, Map<string, ResolvedTask>>();
const resolvedByText = new Map<string, Map<string, ResolvedTask>>();
const MAX_CACHED_MODULES = 1024;

/**
 * Checks a task spec and returns its module URL and export name. The same
 * spec (the same URL object or text, and name) gives the same object, so the
 * hot path allocates nothing for a task it has seen.
 *
 * @throws {TypeError} When the spec is not an object, its name is not a
 * string, or its module is not an absolute URL.
 */
export function resolveTask(task: unknown): ResolvedTask {
  if (typeof task !== "object" || task === null || !("module" in task)) {
    throw new TypeError(
      `Cannot use ${describe(task)} as a task: a task is { module: URL, name?: string }`,
    );
  }
  const { module } = task;
  const name = "name" in task && task.name !== undefined ? task.name : "default";
  if (typeof name !== "string") {
    throw new TypeError(`Cannot use task name ${describe(name)}: it must be a string`);
  }
  let byName: Map<string, ResolvedTask> | undefined;
  if (module instanceof URL) {
    byName = resolvedByURL.get(module);
    if (byName === undefined) resolvedByURL.set(module, byName = new Map());
  } else if (typeof module === "string") {
    byName = resolvedByText.get(module);
    if (byName === undefined) {
      if (!URL.canParse(module)) throw notAURL(module);
      byName = new Map();
      if (resolvedByText.size < MAX_CACHED_MODULES) resolvedByText.set(module, byName);
    }
  } else {
    throw new TypeError(
      `Cannot use task module ${describe(module)}: it must be a URL or an absolute URL string`,
    );
  }
  let resolved = byName.get(name);
  if (resolved === undefined) {
    // A URL object's href is read when first seen: URL objects are not meant to change.
    const href = module instanceof URL ? module.href : new URL(module).href;
    resolved = { href, name, key: `${name}@${href}` };
    byName.set(name, resolved);
  }
  return resolved;
}

function notAURL(module: string): TypeError {
  const path = module.startsWith("/") || /^[a-z]:[\\/]/i.test(module);
  return new TypeError(
    path
      ? `Cannot use task module "${module}": it is a file path, and a task module is named by ` +
        `URL; pass new URL("file://${module.startsWith("/") ? "" : "/"}${
          module.replaceAll("\\", "/")
        }")`
      : `Cannot use task module "${module}": it is not an absolute URL, and a worker cannot ` +
        `know what a relative one is relative to; pass new URL("${module}", import.meta.url)`,
  );
}

function describe(value: unknown): string {
  return typeof value === "string" ? `"${value}"` : Deno.inspect(value, { depth: 1 });
}
