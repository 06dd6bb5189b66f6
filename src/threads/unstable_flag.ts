/**
 * Main thread, the Web Worker engine: whether Deno lets this process give workers their own permissions.
 *
 * `new Worker(url, { deno: { permissions } })` needs `--unstable-worker-options`
 * (or `"unstable": ["worker-options"]` in the deno.json Deno uses). Without
 * it Deno exits the whole process with code 70 from inside the constructor,
 * and it does so on purpose so that no program can probe for unstable APIs
 * (denoland/deno#4892, #13370). So the pool looks where the setting can be
 * seen: the command line (Linux only, and only with `--allow-all`: Deno
 * guards `/proc/self/cmdline` behind it) and the deno.json Deno would have
 * found. It says "on" only when it saw the setting, "off" only when it saw
 * the whole command line, and "cannot tell" otherwise.
 *
 * @module
 */

import { WORKER_OPTIONS_FLAG } from "../core/errors.ts";
import { stripJsonc } from "./jsonc.ts";
import { dirname, filePath, isFile, join, parent, resolve } from "./paths.ts";

const FEATURE = "worker-options";
const CONFIG_NAMES = ["deno.json", "deno.jsonc"];
/** Deno flags whose value may follow as a separate word. */
const FLAGS_WITH_VALUE = new Set([
  "-c",
  "--config",
  "--import-map",
  "--location",
  "--seed",
  "--cert",
  "-L",
  "--log-level",
  "--ext",
  "--preload",
  "--require",
]);
/** Subcommands that take a script, after which every word is the script's. */
const SCRIPT_COMMANDS = new Set(["run", "serve"]);
const COMMANDS = new Set([
  ...SCRIPT_COMMANDS,
  "test",
  "bench",
  "eval",
  "repl",
  "task",
  "jupyter",
]);

/** What the pool could find out. */
export interface FlagCheck {
  /** `true`: seen on; `false`: seen off; `undefined`: cannot tell. */
  enabled: boolean | undefined;
  /** Where the pool looked, in words, for error messages. */
  how: string;
}

let cached: FlagCheck | undefined;

/** Whether worker options are enabled in this process, found once and remembered. */
export function workerOptionsEnabled(): FlagCheck {
  return cached ??= check();
}

function check(): FlagCheck {
  if (Deno.mainModule.includes("/deno-compile-")) {
    return { enabled: undefined, how: "this is a `deno compile` binary, whose flags are built in" };
  }
  const words = commandLine();
  if (words !== undefined) return fromCommandLine(words);
  if (!granted({ name: "read" })) {
    return {
      enabled: undefined,
      how: "without read access to everything (--allow-read) the pool cannot look for a " +
        "deno.json, and without --allow-all (on Linux) it cannot read the command line",
    };
  }
  // Without the command line, the subcommand is unknown: `deno run` finds its
  // deno.json from the script's folder, `deno test` from the working folder.
  // Only an answer both places agree on is taken.
  const cwd = Deno.cwd();
  const main = new URL(Deno.mainModule);
  const script = main.protocol === "file:" ? dirname(filePath(main)) : cwd;
  const fromCwd = fromConfig(discover(cwd));
  const unseen = "the command line cannot be read without --allow-all (and only on Linux)";
  if (script === cwd) {
    return fromCwd.enabled === true
      ? fromCwd
      : { enabled: undefined, how: `${unseen}, and ${fromCwd.how}` };
  }
  const fromScript = fromConfig(discover(script));
  if (fromCwd.enabled === true && fromScript.enabled === true) return fromScript;
  return {
    enabled: undefined,
    how:
      `${unseen}; \`deno test\` would look up from the working directory ${cwd} (${fromCwd.how}), ` +
      `\`deno run\` from the script's folder ${script} (${fromScript.how})`,
  };
}

/** Deno's command line, if it can be read without prompting. */
function commandLine(): string[] | undefined {
  if (Deno.build.os !== "linux") return undefined;
  // Deno allows /proc/self/cmdline to --allow-all only; asking otherwise may prompt.
  const names = ["read", "write", "net", "env", "run", "ffi", "sys", "import"] as const;
  if (!names.every((name) => granted({ name }))) return undefined;
  try {
    return Deno.readTextFileSync("/proc/self/cmdline").split("\0").slice(1, -1);
  } catch {
    return undefined; // a sandbox without /proc: fall back to the config
  }
}

/** Reads the flag, and the config Deno used, from the words after the executable. */
export function fromCommandLine(words: readonly string[]): FlagCheck {
  let command = "run";
  let script: string | undefined;
  const flags: string[] = [];
  let i = 0;
  if (words[0] !== undefined && COMMANDS.has(words[0])) command = words[i++]!;
  for (; i < words.length; i++) {
    const word = words[i]!;
    if (word === "--") break;
    if (!word.startsWith("-")) {
      if (SCRIPT_COMMANDS.has(command)) {
        script = word;
        break;
      }
      continue;
    }
    flags.push(word);
    if (FLAGS_WITH_VALUE.has(word) && i + 1 < words.length) flags.push(`${word}=${words[++i]}`);
  }
  if (flags.includes(WORKER_OPTIONS_FLAG)) {
    return { enabled: true, how: `Deno was started with ${WORKER_OPTIONS_FLAG}` };
  }
  const without = "Deno was started without it";
  if (flags.includes("--no-config")) {
    return { enabled: false, how: `${without}, and with --no-config` };
  }
  const given = flags.find((flag) => flag.startsWith("--config=") || flag.startsWith("-c="));
  let config: string | undefined;
  if (given !== undefined) {
    config = resolve(Deno.cwd(), given.slice(given.indexOf("=") + 1));
  } else if (!granted({ name: "read" })) {
    return { enabled: undefined, how: `${without}, and cannot look for a deno.json` };
  } else {
    config = discover(startOf(command, script));
  }
  const found = fromConfig(config);
  return { enabled: found.enabled, how: `${without}, and ${found.how}` };
}

/** The folder Deno starts looking for a deno.json from. */
function startOf(command: string, script: string | undefined): string {
  const cwd = Deno.cwd();
  if (script === undefined || !SCRIPT_COMMANDS.has(command)) return cwd;
  if (/^[a-z][a-z0-9+.-]*:/i.test(script) && !/^[a-z]:[\\/]/i.test(script)) {
    const url = new URL(script);
    return url.protocol === "file:" ? dirname(filePath(url)) : cwd;
  }
  return dirname(resolve(cwd, script));
}

/** The nearest deno.json(c) at or above `start`, if any. */
function discover(start: string): string | undefined {
  for (let dir: string | undefined = start; dir !== undefined; dir = parent(dir)) {
    for (const name of CONFIG_NAMES) {
      const path = join(dir, name);
      if (isFile(path)) return path;
    }
  }
  return undefined;
}

/**
 * Whether a config enables the feature, itself or through the workspace
 * that lists its folder as a member.
 */
function fromConfig(path: string | undefined): FlagCheck {
  if (path === undefined) return { enabled: false, how: "no deno.json was found" };
  const config = readConfig(path);
  if (config === undefined) return { enabled: undefined, how: `${path} could not be read` };
  if (lists(config, FEATURE)) return { enabled: true, how: `${path} enables "${FEATURE}"` };
  const member = dirname(path);
  for (let dir = parent(member); dir !== undefined; dir = parent(dir)) {
    for (const name of CONFIG_NAMES) {
      const root = join(dir, name);
      if (!isFile(root)) continue;
      const workspace = readConfig(root);
      const members = workspace?.workspace;
      const relative = member.slice(dir.length + 1);
      const listed = Array.isArray(members) &&
        members.some((entry) => typeof entry === "string" && trimDot(entry) === relative);
      if (listed && lists(workspace!, FEATURE)) {
        return { enabled: true, how: `the workspace ${root} enables "${FEATURE}"` };
      }
    }
  }
  return { enabled: false, how: `${path} does not list "${FEATURE}" under "unstable"` };
}

function lists(config: Record<string, unknown>, feature: string): boolean {
  const unstable = config.unstable;
  return Array.isArray(unstable) && unstable.includes(feature);
}

function readConfig(path: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(stripJsonc(Deno.readTextFileSync(path)));
    return typeof value === "object" && value !== null ? value as Record<string, unknown> : {};
  } catch {
    return undefined; // unreadable or malformed: Deno would refuse it anyway
  }
}

function granted(descriptor: Deno.PermissionDescriptor): boolean {
  return Deno.permissions.querySync(descriptor).state === "granted";
}

function trimDot(entry: string): string {
  return entry.replace(/^\.[\\/]/, "").replace(/[\\/]+$/, "");
}
