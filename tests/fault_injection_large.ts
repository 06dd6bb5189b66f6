/**
 * The fault-injection run at any size:
 *   deno run --allow-read tests/fault_injection_large.ts [count=100000] [seed=random] [sandboxed]
 */
import { runFaultInjection } from "./fault_injection.ts";

const count = Number(Deno.args[0] ?? 100_000);
const seed = Number(Deno.args[1] ?? Math.floor(Math.random() * 2 ** 31));
const sandboxed = Deno.args[2] === "sandboxed";
console.log(`fault injection: ${count} requests, seed ${seed}${sandboxed ? ", sandboxed" : ""}`);
const report = await runFaultInjection(count, seed, sandboxed);
console.log(JSON.stringify(report, null, 2));
