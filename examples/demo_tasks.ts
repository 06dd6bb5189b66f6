/** The demo's task: threadpool.py's `do_something`, with durations cut a hundredfold. */

/**
 * Sleeps 10–50 ms, then returns `Math.random() * data`, or throws when that
 * value is above 5 (about 18 % of calls for data drawn from 1–10).
 */
export async function doSomething(data: number): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 10 + Math.floor(Math.random() * 41)));
  const result = Math.round(Math.random() * data * 1000) / 1000;
  if (result > 5) throw new Error("Something extraordinary happened!");
  return result;
}
