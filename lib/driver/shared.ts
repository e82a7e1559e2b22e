/**
 * What every driver does the same way, whatever its client: scripts by SHA with EVAL after NOSCRIPT,
 * grouping by slot, and retrying a bulk step through a failover.
 */
import { RedisUnavailableError } from "../errors.js";
import { keySlot } from "../keys.js";
import type { Args, Script } from "./driver.js";

/** EVALSHA of `script`; on a reply that starts with NOSCRIPT, the same call as EVAL. */
export function runScript<T>(
  send: (key: string | undefined, args: Args) => Promise<T>,
  script: Script,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<T> {
  const command = ["EVALSHA", script.sha, String(keys.length)];
  for (const key of keys) command.push(key);
  for (const arg of args) command.push(typeof arg === "string" ? arg : String(arg));
  return send(keys[0], command).catch((error: unknown) => {
    // Redis says "NOSCRIPT No matching script..."; Valkey words it differently after the same prefix.
    if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
    command[0] = "EVAL";
    command[1] = script.source;
    return send(keys[0], command);
  });
}

/** Items grouped so that each group's keys share a slot; one group when not `sharded`. */
export function groupBySlot<T>(sharded: boolean, items: readonly T[], keyOf: (item: T) => string): T[][] {
  if (!sharded) return items.length ? [items.slice()] : [];
  const groups = new Map<number, T[]>();
  for (const item of items) {
    const slot = keySlot(keyOf(item));
    const group = groups.get(slot);
    if (group) group.push(item);
    else groups.set(slot, [item]);
  }
  return [...groups.values()];
}

/** Runs `step` again after `heal` while it fails for want of a node, until `recoveryMs` has passed (Cluster only). */
export async function retryThroughFailover<T>(
  sharded: boolean,
  recoveryMs: number,
  heal: () => Promise<void>,
  step: () => Promise<T>,
): Promise<T> {
  const giveUpAt = Date.now() + recoveryMs;
  for (;;) {
    try {
      return await step();
    } catch (error) {
      if (!sharded || !(error instanceof RedisUnavailableError) || Date.now() > giveUpAt) throw error;
      await heal();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
