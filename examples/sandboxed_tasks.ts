/** Tasks for examples/sandboxed.ts: each needs a different permission, or none. */

/** Counts the words of a text: needs nothing. */
export function countWords(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

/** Fetches a URL's text: needs net access to its host. */
export async function fetchText(url: string): Promise<string> {
  const response = await fetch(url);
  return await response.text();
}

/** Reads a file: needs read access to it. */
export function readText(path: string): string {
  return Deno.readTextFileSync(path);
}
