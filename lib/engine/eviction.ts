/**
 * The one check of Redis's eviction policy. Under an LRU, LFU or random policy, Redis may evict a
 * session's owner record (meta key) or its user's index while the session itself stays in use: they
 * are read only by writes, and reads keep only the session warm. "Sign out everywhere" then misses
 * that session. That can't be prevented from the store, so the store says so, once per process, at
 * the first save. volatile-ttl evicts a session before what covers it (those live a little longer),
 * and noeviction evicts nothing. See docs/operations.md#memory.
 */
import type { Driver } from "../driver/driver.js";

/** Policies under which index data can go while its session stays. */
const RISKY = /^(allkeys|volatile)-(lru|lfu|random)$/;

let warned = false;

/** The policy and the limit from INFO memory; undefined when they can't be read (an ACL without INFO). */
async function evictionPolicy(driver: Driver, key: string): Promise<{ policy: string; maxmemory: number } | undefined> {
  try {
    const info = String(await driver.command(key, ["INFO", "memory"]));
    const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
    const maxmemory = Number(/^maxmemory:(\d+)/m.exec(info)?.[1] ?? 0);
    return policy ? { policy, maxmemory } : undefined;
  } catch {
    return undefined; // a hint only: never fails the save it runs beside
  }
}

/** Warns once per process (code REDIS_SESSION_STORE_EVICTION) when the node of `key` evicts by a risky policy. */
export async function warnOfEviction(driver: Driver, key: string): Promise<void> {
  if (warned) return;
  const found = await evictionPolicy(driver, key);
  if (!found || found.maxmemory === 0 || !RISKY.test(found.policy) || warned) return;
  warned = true;
  process.emitWarning(
    `redis-session-store: Redis evicts keys by maxmemory-policy ${found.policy}, which may evict a session's owner record or its user's index while the session stays in use; "sign out everywhere" then misses that session. Use volatile-ttl or noeviction (or touchAfter: 0, which keeps them about as warm as the sessions); see docs/operations.md#memory`,
    { code: "REDIS_SESSION_STORE_EVICTION" },
  );
}
