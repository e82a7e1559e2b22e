/**
 * Marks on objects a framework hands the store (a session, a request): a non-enumerable property
 * under a symbol, so JSON, for...in, spread and Object.assign never see or copy it. Cheaper than a
 * WeakMap entry per object, which only a full collection clears.
 */

/** Puts `value` on `target` under `key`, replacing an earlier mark. */
export function mark<T>(target: object, key: symbol, value: T): void {
  Object.defineProperty(target, key, { value, configurable: true });
}

/** The mark `target` itself carries under `key` (not one inherited); undefined when it has none. */
export function markOf<T>(target: object, key: symbol): T | undefined {
  return Object.hasOwn(target, key) ? (target as Record<symbol, T>)[key] : undefined;
}
