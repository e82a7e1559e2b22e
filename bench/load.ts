/**
 * Fast bulk loading of sessions in connect-redis's layout (prefix + sid -> JSON, with an expiry):
 * pipelined raw SET commands on a dedicated connection, never store.set() one by one.
 */
import { createClient } from "redis";
import { DAY_MS, makeSession } from "./common.js";

/** The sid of the i-th loaded session: fixed width, so every key has the same size. */
export function loadedSid(i: number): string {
  return `bulk-${i.toString(36).padStart(8, "0")}-Zk3qPw9xLm2Rt7Yv`;
}

/**
 * Writes `count` sessions (about 500 B each) under `prefix` with SET ... PXAT (a day from now),
 * `batch` commands per pipeline flush. Values cycle through 1,000 distinct sessions.
 */
export async function loadSessions(url: string, count: number, prefix = "sess:", batch = 5000): Promise<void> {
  const client = createClient({ url });
  client.on("error", () => undefined);
  await client.connect();
  try {
    const now = Date.now();
    const expireAt = now + DAY_MS;
    const values = Array.from({ length: 1000 }, (_, i) => JSON.stringify(makeSession(`user-${i}`, now)));
    const at = String(expireAt);
    for (let start = 0; start < count; start += batch) {
      const end = Math.min(count, start + batch);
      const pending: Promise<unknown>[] = [];
      for (let i = start; i < end; i++) {
        pending.push(client.sendCommand(["SET", prefix + loadedSid(i), values[i % 1000] as string, "PXAT", at]));
      }
      await Promise.all(pending);
    }
  } finally {
    await client.quit();
  }
}
