/**
 * Both threads: how an error crosses between threads. Structured clone keeps an Error's
 * message and stack but not every `name` or an uncloneable `cause`, so errors
 * travel as a plain record and are rebuilt on the other side.
 *
 * @module
 */

/** An error as it travels between threads. */
export interface WireError {
  /** The error's `name`, or `"NonError"` when a non-Error value was thrown. */
  name: string;
  /** The error's `message`, or the thrown value as text. */
  message: string;
  /** The stack as the worker saw it. */
  stack?: string;
  /** The cause, itself sent as a WireError when it is an Error. */
  cause?: WireError | { value: unknown };
  /** Its other own enumerable properties (`code`, `errno`, a user's fields) that can be cloned. */
  fields?: Record<string, unknown>;
}

/** What a WireError carries by itself, not among its fields. */
const OWN = new Set(["name", "message", "stack", "cause"]);

const builtins: Record<string, ErrorConstructor> = {
  Error,
  EvalError,
  RangeError,
  ReferenceError,
  SyntaxError,
  TypeError,
  URIError,
};

/** Turns anything thrown into a record that always survives structured clone. */
export function toWireError(thrown: unknown, depth = 0): WireError {
  if (!(thrown instanceof Error)) {
    return { name: "NonError", message: describe(thrown) };
  }
  const wire: WireError = {
    name: String(thrown.name),
    message: String(thrown.message),
  };
  if (typeof thrown.stack === "string") wire.stack = thrown.stack;
  for (const key of Object.keys(thrown)) {
    if (OWN.has(key)) continue;
    try {
      (wire.fields ??= {})[key] = structuredClone(
        (thrown as unknown as Record<string, unknown>)[key],
      );
    } catch {
      // A field that cannot cross threads (a function, a socket) stays behind.
    }
  }
  if ("cause" in thrown && depth < 8) {
    const cause = thrown.cause;
    wire.cause = cause instanceof Error
      ? toWireError(cause, depth + 1)
      : { value: clonableOrText(cause) };
  }
  return wire;
}

/**
 * The class to rebuild an error with: a built-in, or one of `Deno.errors`
 * (`NotCapable`, `NotFound`, ...), so that `instanceof` works on this thread.
 */
function classOf(name: string): ErrorConstructor {
  if (Object.hasOwn(builtins, name)) return builtins[name]!;
  const errors = Deno.errors as unknown as Record<string, ErrorConstructor>;
  return Object.hasOwn(errors, name) ? errors[name]! : Error;
}

/** Rebuilds an error sent by {@linkcode toWireError}. */
export function fromWireError(wire: WireError): Error {
  const Ctor = classOf(wire.name);
  const options = wire.cause === undefined
    ? undefined
    : { cause: "value" in wire.cause ? wire.cause.value : fromWireError(wire.cause) };
  const error = new Ctor(wire.message, options);
  // Defined, not assigned: a field named __proto__ stays a field.
  for (const [key, value] of Object.entries(wire.fields ?? {})) {
    Object.defineProperty(error, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  error.name = wire.name;
  if (wire.stack !== undefined) error.stack = wire.stack;
  return error;
}

function clonableOrText(value: unknown): unknown {
  try {
    return structuredClone(value);
  } catch {
    // The cause cannot cross threads; its description still can.
    return describe(value);
  }
}

function describe(value: unknown): string {
  try {
    return typeof value === "string" ? value : Deno.inspect(value);
  } catch {
    return String(value);
  }
}

/** What went wrong, in words: an error's message, or anything else as text. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
