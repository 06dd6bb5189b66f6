import { ThreadPool } from "@scope/threadpool";

// A task is an exported function of a module, named by URL and export.
const fib = { module: new URL("./cpu_tasks.ts", import.meta.url), name: "fib" };

await using pool = new ThreadPool(2);

// Promises:
console.log(await pool.run(fib, [20])); // 6765

// Many inputs, results in input order:
for await (const value of pool.map(fib, [10, 20, 30])) console.log(value);
