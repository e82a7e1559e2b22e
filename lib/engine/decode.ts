/** Decoding many stored values at once, and time left as a date. */

/**
 * Parses a stored value, reporting what it cannot read (and returning null for it). Synchronous when
 * the serializer is (JSON is): a Promise only for an async parse. `ttlMs`, when the read asked Redis
 * for it, is the key's time left (-1: no expiry), for adapters that show the expiry in the session.
 */
export type Decode<S> = (sid: string, value: string, ttlMs?: number) => S | null | Promise<S | null>;

/**
 * Decodes a list: synchronously where the decoder is (JSON), awaiting only the parses that return a
 * Promise, all at once. `decode` may return null to leave an item out.
 */
export async function decodeAll<T, S>(
  items: readonly T[],
  decode: (item: T, index: number) => S | null | Promise<S | null>,
): Promise<(S | null)[]> {
  const out: (S | null | Promise<S | null>)[] = items.map(decode);
  if (!out.some((item) => item instanceof Promise)) return out as (S | null)[];
  return Promise.all(out);
}

/** A key's time left (ms; -1 none, -2 gone) as an absolute date on this process's clock. */
export function expiryOf(ttlMs: number, now: number): Date | null {
  return ttlMs >= 0 ? new Date(now + ttlMs) : null;
}
