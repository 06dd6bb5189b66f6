/** Tasks for examples/cluster.ts: CPU-bound work, and which node did it. */

function fib(n: number): number {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

/** fib(n), with the process id of the node that computed it. */
export function fibOnNode(n: number): { value: number; node: number } {
  return { value: fib(n), node: Deno.pid };
}
