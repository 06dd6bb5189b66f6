/**
 * A long map() over thousands of inputs, with a live progress line from
 * pool.stats(); then one long task that reports its own progress.
 *
 * Run: deno run --allow-read examples/progress.ts
 */
import { ThreadPool } from "@scope/threadpool";

const fib = { module: new URL("./cpu_tasks.ts", import.meta.url), name: "fib" };
const inputs = Array.from({ length: 5_000 }, (_, i) => 15 + (i % 10));

await using pool = new ThreadPool();
const encoder = new TextEncoder();
const started = performance.now();
let done = 0;
let sum = 0;

function progress(): void {
  const { completed, queued, running, runTime, utilisation } = pool.stats();
  const busy = utilisation.map((u) => `${Math.round(u * 100)}%`).join(" ");
  const line = `\r${completed}/${inputs.length} done, ${running} running, ${queued} queued; ` +
    `run p50 ${runTime.p50.toFixed(2)} ms, p99 ${
      runTime.p99.toFixed(2)
    } ms; workers busy ${busy}   `;
  Deno.stdout.writeSync(encoder.encode(line));
}

const ticker = setInterval(progress, 100);
for await (const value of pool.map(fib, inputs)) {
  sum += value as number;
  done++;
}
clearInterval(ticker);
progress();
console.log(
  `\n${done} results (sum ${sum}) in ${
    Math.round(performance.now() - started)
  } ms on ${pool.size} workers`,
);

// One long task, reporting how far it got: the latest report reaches onProgress, never a backlog.
const countPrimes = { module: new URL("./cpu_tasks.ts", import.meta.url), name: "countPrimes" };
const primes = await pool.run(countPrimes, [2_000_000], {
  onProgress: (fraction) => {
    const percent = Math.round((fraction as number) * 100);
    Deno.stdout.writeSync(encoder.encode(`\rcounting primes: ${percent}%`));
  },
});
console.log(`\n${primes} primes below 2,000,000`);
