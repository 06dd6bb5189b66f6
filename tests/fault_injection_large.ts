/**
 * The fault-injection run at any size:
 *   deno run --allow-read tests/fault_injection_large.ts [count=100000] [seed=random]
 */
import { runFaultInjection } from "./fault_injection.ts";

const count = Number(Deno.args[0] ?? 100_000);
const seed = Number(Deno.args[1] ?? Math.floor(Math.random() * 2 ** 31));
console.log(`fault injection: ${count} requests, seed ${seed}`);
const report = await runFaultInjection(count, seed);
console.log(JSON.stringify(report, null, 2));
